/* SPDX-License-Identifier: MIT */
/* Leveled logging to stderr on syslog levels. The macros skip formatting
 * entirely below the current level. Thread-safe (one write per line). */
#ifndef FIEF_LOG_H
#define FIEF_LOG_H

enum { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6,
       LOG_LVL_DEBUG = 7 };

extern int log_level; /* current threshold; default LOG_LVL_NOTICE */

/* Parse "err|warn|notice|info|debug" into *lvl; returns 0 or FIEF_EINVAL. */
int log_level_parse(const char *name, int *lvl);

void log_write(int lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...) do { if ((lvl) <= log_level) log_write((lvl), __VA_ARGS__); } while (0)
#define log_err(...) log_at(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_at(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
