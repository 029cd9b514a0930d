/* SPDX-License-Identifier: MIT */
/* Shared unit-test helpers: locating the shared models, temp dirs, RNG. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FIEF_TEST_MODELS
#define FIEF_TEST_MODELS "../shared/models"
#endif

static char *paths[64];
static int n_paths;
static char tmpdir[256];
static int registered;

static void cleanup(void);

static void register_cleanup(void)
{
    if (!registered) {
        registered = 1;
        atexit(cleanup);
    }
}

static void cleanup(void)
{
    for (int i = 0; i < n_paths; i++)
        free(paths[i]);
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    }
}

const char *tu_model_path(const char *name)
{
    const char *dir = getenv("FIEF_MODELS");
    if (!dir || !*dir)
        dir = FIEF_TEST_MODELS;
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    if (access(p, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s not found (the shared models directory is absent; "
                        "set FIEF_MODELS to run this test)\n", p);
        free(p);
        return NULL;
    }
    register_cleanup();
    if (n_paths < 64)
        paths[n_paths++] = p;
    return p;
}

const char *tu_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/fief-test-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            tmpdir[0] = 0;
            return "/tmp";
        }
        register_cleanup();
    }
    return tmpdir;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return p;
}

uint64_t tu_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float tu_randf(uint64_t *s)
{
    return (float)((double)(tu_rand(s) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}
