/* SPDX-License-Identifier: MIT */
/* Shared pieces of the `fief` subcommands: the command table, argument
 * parsing helpers that print a usable message and fail, and output helpers. */
#ifndef FIEF_CLI_H
#define FIEF_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Exit codes of every subcommand. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_gen_model(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_pool(int argc, char **argv);
int cmd_miner(int argc, char **argv);
int cmd_credit(int argc, char **argv);
int cmd_payouts(int argc, char **argv);
int cmd_ledger(int argc, char **argv);
int cmd_receipt(int argc, char **argv);

/* Parse a number in [lo, hi]; on failure print "fief CMD: bad value for
 * OPT: ..." and return CLI_USAGE. */
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out);

/* Parse "1,2,3" into a new array (caller frees). */
int cli_ids(const char *cmd, const char *opt, const char *s, int32_t **ids, size_t *n);

/* Default thread count: the CPUs this process may run on. */
int cli_default_threads(void);

/* Append s as a JSON string literal; bytes that are not valid UTF-8 become
 * U+FFFD, so the output is always valid JSON. */
void cli_json_str(struct buf *b, const char *s, size_t len);

/* Print a usage-level error for cmd and return CLI_USAGE. */
int cli_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
