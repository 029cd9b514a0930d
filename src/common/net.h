/* SPDX-License-Identifier: MIT */
/* Small socket helpers shared by the pool and the miner: address parsing,
 * listening and connecting sockets with the options a latency-sensitive
 * line protocol needs (TCP_NODELAY, non-blocking, close-on-exec). */
#ifndef FIEF_NET_H
#define FIEF_NET_H

#include <stddef.h>

#include "common/err.h"

/* Split "HOST:PORT", "[v6]:PORT" or ":PORT" (host "0.0.0.0"). Port 0..65535.
 * 0 or FIEF_EINVAL with err set. */
int net_split_hostport(const char *s, char *host, size_t host_cap, int *port,
                       char err[FIEF_ERR_LEN]);

/* A non-blocking listening socket bound to HOST:PORT (SO_REUSEADDR,
 * TCP_NODELAY inherited by accepted sockets). Returns the fd, or a negative
 * FIEF_E* code with err set. */
int net_listen(const char *hostport, char err[FIEF_ERR_LEN]);

/* The port a bound socket got (after binding port 0); -1 on error. */
int net_local_port(int fd);

/* Disable Nagle on a connected socket (small lines must leave at once). */
void net_nodelay(int fd);

/* Text form of a connected socket's peer address ("1.2.3.4:5678"). */
void net_peer_name(int fd, char *out, size_t cap);

#endif
