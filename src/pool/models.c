/* SPDX-License-Identifier: MIT */
/* The registered models: digest (cached across restarts), tokenizer and chat
 * template of each GGUF file; the weights are never read. */
#include "pool/models.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "engine/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CACHE_FILE "digests.tsv"

struct pool_models {
    size_t n;
    struct pool_model *m;
};

/* ---- digest cache: "path<TAB>size<TAB>mtime_ns<TAB>digest" lines ---- */

static bool cache_lookup(const char *dir, const char *path, const struct stat *st, char *out)
{
    char file[POOL_CFG_STR + 32];
    snprintf(file, sizeof file, "%s/" CACHE_FILE, dir);
    FILE *f = fopen(file, "r");
    if (!f)
        return false;
    char line[2 * POOL_CFG_STR], want[POOL_CFG_STR + 64];
    snprintf(want, sizeof want, "%s\t%lld\t%lld\t", path, (long long)st->st_size,
             (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        size_t wl = strlen(want);
        if (strncmp(line, want, wl) == 0 && strlen(line + wl) >= DIGEST_LEN) {
            memcpy(out, line + wl, DIGEST_LEN);
            out[DIGEST_LEN] = 0;
            found = !strncmp(out, "sha256:", 7);
        }
    }
    fclose(f);
    return found;
}

static void cache_store(const char *dir, const char *path, const struct stat *st, const char *d)
{
    char file[POOL_CFG_STR + 32];
    snprintf(file, sizeof file, "%s/" CACHE_FILE, dir);
    FILE *f = fopen(file, "a");
    if (!f)
        return; /* only a cache: the next start hashes again */
    fprintf(f, "%s\t%lld\t%lld\t%s\n", path, (long long)st->st_size,
            (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec, d);
    fclose(f);
}

static int model_digest(const struct pool_cfg *cfg, const char *path, char *out, char *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fief_errf(err, FIEF_EIO, "%s: %s", path, strerror(errno));
    if (cache_lookup(cfg->data_dir, path, &st, out))
        return 0;
    log_notice("hashing %s (%lld MiB) ...", path, (long long)st.st_size >> 20);
    int rc = digest_file(path, out, err);
    if (!rc)
        cache_store(cfg->data_dir, path, &st, out);
    return rc;
}

/* ---- loading ---- */

static int read_meta(struct pool_model *pm, char *err)
{
    char e[FIEF_ERR_LEN];
    struct gguf *g;
    int rc = gguf_open(pm->path, &g, e);
    if (rc)
        return fief_errf(err, rc, "%s", e);
    struct gguf_str arch;
    uint32_t ctx = 2048;
    if (gguf_get_str(g, "general.architecture", &arch) == 0) {
        snprintf(pm->arch, sizeof pm->arch, "%.*s", (int)(arch.len < 31 ? arch.len : 31),
                 arch.ptr);
        char key[80];
        snprintf(key, sizeof key, "%s.context_length", pm->arch);
        if (gguf_get_u32(g, key, &ctx) != 0 || ctx == 0)
            ctx = 2048;
    }
    pm->n_ctx_train = ctx > (1u << 24) ? 1 << 24 : (int32_t)ctx;
    gguf_free(g);
    return 0;
}

static int load_one(const struct pool_cfg *cfg, const struct pool_cfg_model *cm,
                    struct pool_model *pm, char *err)
{
    char e[FIEF_ERR_LEN];
    snprintf(pm->name, sizeof pm->name, "%s", cm->name);
    snprintf(pm->path, sizeof pm->path, "%s", cm->path);
    pm->price_in = cm->price_in;
    pm->price_out = cm->price_out;
    pm->created_s = (int64_t)time(NULL);
    int rc;
    if ((rc = read_meta(pm, e)) || (rc = model_digest(cfg, pm->path, pm->digest, e)) ||
        (rc = eng_vocab_open(pm->path, &pm->vocab, e)))
        return fief_errf(err, rc, "model %s: %s", cm->name, e);
    pm->chat = eng_vocab_chat_family(pm->vocab);
    log_notice("model %s: %s, %s, %d tokens, context %d, chat template %s", pm->name, pm->path,
               pm->digest, eng_vocab_size(pm->vocab), pm->n_ctx_train,
               eng_chat_family_name(pm->chat));
    return 0;
}

int models_load(const struct pool_cfg *cfg, struct pool_models **out, char err[FIEF_ERR_LEN])
{
    struct pool_models *ms = xcalloc(1, sizeof *ms);
    ms->m = xcalloc(cfg->n_models ? cfg->n_models : 1, sizeof *ms->m);
    for (uint32_t i = 0; i < cfg->n_models; i++) {
        int rc = load_one(cfg, &cfg->models[i], &ms->m[i], err);
        ms->n = i + 1;
        if (rc) {
            models_free(ms);
            return rc;
        }
    }
    *out = ms;
    return 0;
}

void models_free(struct pool_models *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++)
        eng_vocab_free(ms->m[i].vocab);
    free(ms->m);
    free(ms);
}

size_t models_count(const struct pool_models *ms)
{
    return ms->n;
}

struct pool_model *models_at(struct pool_models *ms, size_t i)
{
    return i < ms->n ? &ms->m[i] : NULL;
}

struct pool_model *models_find(struct pool_models *ms, const char *name)
{
    for (size_t i = 0; i < ms->n; i++)
        if (!strcmp(ms->m[i].name, name))
            return &ms->m[i];
    return NULL;
}
