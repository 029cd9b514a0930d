/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the GGUF reader: parse the input; when it parses, read
 * every key/value through every getter and touch the first and last byte of
 * every tensor, so ASan sees any pointer the parser let out of the image.
 * Seeds: tests/fuzz/corpus/gguf/ (small files made by the writer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

static void touch(const void *p, uint64_t n)
{
    if (n)
        sink += ((const uint8_t *)p)[0] + ((const uint8_t *)p)[n - 1];
}

static void walk_kv(const struct gguf *g, size_t i)
{
    struct gguf_str k = gguf_kv_key(g, i);
    char key[GGUF_MAX_NAME + 1];
    if (k.len > GGUF_MAX_NAME)
        __builtin_trap();
    memcpy(key, k.ptr, (size_t)k.len);
    key[k.len] = 0;
    if (gguf_find_key(g, key) != (long)i) /* duplicates are rejected by the parser */
        __builtin_trap();
    uint32_t u32;
    int32_t i32;
    uint64_t u64, n;
    float f;
    bool b;
    struct gguf_str s, *sa = NULL;
    enum gguf_type et;
    const void *d;
    (void)gguf_kv_type(g, i);
    (void)gguf_get_u32(g, key, &u32);
    (void)gguf_get_i32(g, key, &i32);
    (void)gguf_get_u64(g, key, &u64);
    (void)gguf_get_f32(g, key, &f);
    (void)gguf_get_bool(g, key, &b);
    if (gguf_get_str(g, key, &s) == 0)
        touch(s.ptr, s.len);
    if (gguf_get_arr(g, key, &et, &n, &d) == 0)
        touch(d, n * gguf_type_size(et));
    if (gguf_get_str_arr(g, key, &sa, &n) == 0)
        for (uint64_t j = 0; j < n; j++)
            touch(sa[j].ptr, sa[j].len);
    free(sa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf *g;
    char err[FIEF_ERR_LEN];
    err[0] = 0;
    if (gguf_parse(data, size, &g, err) != 0) {
        if (!err[0]) /* every failure must say why */
            __builtin_trap();
        return 0;
    }
    for (size_t i = 0; i < gguf_n_kv(g); i++)
        walk_kv(g, i);
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        char name[GGUF_MAX_NAME + 1];
        memcpy(name, t->name.ptr, (size_t)t->name.len);
        name[t->name.len] = 0;
        if (gguf_tensor_find(g, name) != t || t->nbytes == 0)
            __builtin_trap();
        touch(t->data, t->nbytes);
    }
    (void)gguf_find_key(g, "general.architecture");
    gguf_free(g);
    return 0;
}
