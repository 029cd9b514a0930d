/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests (include after <cmocka.h>'s prerequisites). */
#ifndef FIEF_TESTUTIL_H
#define FIEF_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* Full path of name inside the shared models directory (FIEF_MODELS in the
 * environment, else the build's FIEF_TEST_MODELS), or NULL when the file is
 * absent; then a visible "SKIP" line says why. The string is malloc'd and
 * freed at exit. */
const char *tu_model_path(const char *name);

/* Skip the current test unless the shared model file exists. */
#define TU_MODEL_OR_SKIP(var, name)                                                          \
    const char *var = tu_model_path(name);                                                   \
    if (!var) {                                                                              \
        skip();                                                                              \
    }

/* A fresh temporary directory for this test process (created once). */
const char *tu_tmpdir(void);

/* Read a whole file; caller frees. NULL on error. */
char *tu_read_file(const char *path, size_t *len);

/* Deterministic test RNG. */
uint64_t tu_rand(uint64_t *state);
float tu_randf(uint64_t *state); /* uniform in [-1, 1) */

#endif
