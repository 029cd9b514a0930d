/* SPDX-License-Identifier: MIT */
/* GGUF v2/v3 reader (and, in gguf_write.c, a writer).
 *
 * The reader is a pure parser over bytes: gguf_parse() validates an in-memory
 * image, gguf_open() mmaps a file read-only and parses it. Every count, offset,
 * size, alignment and type read from the file is checked before it is used;
 * a malformed file yields FIEF_EFORMAT (or FIEF_ELIMIT / FIEF_EUNSUPPORTED) and
 * a message naming what is wrong and at which byte offset. Nothing is read
 * outside [data, data + size).
 *
 * Layout (all little-endian): magic "GGUF", u32 version (2 or 3), u64 n_tensors,
 * u64 n_kv, then n_kv key/value pairs (gguf string key, u32 type, value), then
 * n_tensors tensor infos (string name, u32 n_dims, u64 ne[n_dims], u32 ggml
 * type, u64 offset), then padding to general.alignment (default 32), then the
 * tensor data section; each tensor's offset is relative to that section and
 * must be a multiple of the alignment.
 *
 * Keys and tensor names are non-empty, at most GGUF_MAX_NAME bytes, contain
 * no NUL byte and are unique (all checked), so C-string lookups find them.
 *
 * Lifetime: every pointer the getters return (strings, arrays, tensor data)
 * points into the mapped image and stays valid until gguf_free(). */
#ifndef FIEF_GGUF_H
#define FIEF_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Limits on what a file may declare; beyond these the file is rejected. */
#define GGUF_MAX_KV (1u << 16)         /* key/value pairs */
#define GGUF_MAX_TENSORS (1u << 16)    /* tensor infos */
#define GGUF_MAX_DIMS 4                /* dimensions per tensor */
#define GGUF_MAX_NAME 256              /* bytes in a key or tensor name */
#define GGUF_MAX_STRING (1u << 26)     /* bytes in one string value (64 MiB) */
#define GGUF_MAX_ALIGNMENT (1u << 16)  /* general.alignment upper bound */

enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
};

/* A string inside the image: NOT NUL-terminated. */
struct gguf_str {
    const char *ptr;
    uint64_t len;
};

struct gguf_tensor {
    struct gguf_str name;
    uint32_t type;          /* ggml type id, known to qtype_info() */
    uint32_t n_dims;        /* 1..GGUF_MAX_DIMS */
    uint64_t ne[GGUF_MAX_DIMS]; /* elements per dim, ne[0] innermost; unused dims = 1 */
    uint64_t n_elements;    /* product of ne */
    uint64_t offset;        /* from the start of the data section */
    uint64_t nbytes;        /* bytes of data */
    const void *data;       /* into the image; nbytes readable. Aligned to the file's
                             * alignment under gguf_open (the mapping is page-aligned);
                             * under gguf_parse only as aligned as the caller's buffer */
};

struct gguf;

/* mmap path read-only and parse it. On success *out owns the mapping.
 * Returns 0, FIEF_EIO (open/mmap failed), FIEF_EFORMAT, FIEF_ELIMIT,
 * FIEF_EUNSUPPORTED (e.g. version 1) or FIEF_ENOMEM; err gets the detail. */
int gguf_open(const char *path, struct gguf **out, char err[FIEF_ERR_LEN]);

/* Parse an image already in memory. The image is borrowed: it must stay valid
 * and unchanged until gguf_free(). Same return codes as gguf_open(). */
int gguf_parse(const void *data, size_t size, struct gguf **out, char err[FIEF_ERR_LEN]);

/* Releases the parse state and, for gguf_open(), the mapping. NULL is a no-op. */
void gguf_free(struct gguf *g);

uint32_t gguf_version(const struct gguf *g);
uint32_t gguf_alignment(const struct gguf *g);
size_t gguf_file_size(const struct gguf *g);
const void *gguf_image(const struct gguf *g); /* start of the image */
/* Byte offset of the tensor data section in the image. In a file without
 * tensors (a vocab-only GGUF) it may lie past the end of the file. */
uint64_t gguf_data_offset(const struct gguf *g);

/* Bytes of one element of a fixed-size type; 0 for STRING, ARRAY and unknown ids. */
size_t gguf_type_size(enum gguf_type t);
/* "u32", "string", "array" ... for messages; "?" for unknown ids. */
const char *gguf_type_name(enum gguf_type t);

/* ---- metadata ---- */
size_t gguf_n_kv(const struct gguf *g);
struct gguf_str gguf_kv_key(const struct gguf *g, size_t i);
enum gguf_type gguf_kv_type(const struct gguf *g, size_t i);
/* Index of key, or -1 when absent. */
long gguf_find_key(const struct gguf *g, const char *key);

/* Typed getters. Each returns 0, FIEF_ENOTFOUND (no such key) or FIEF_EFORMAT
 * (the value has another type or does not fit). Integer getters accept any
 * integer type whose value fits the target; float getters accept F32/F64. */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out);
int gguf_get_i32(const struct gguf *g, const char *key, int32_t *out);
int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out);
int gguf_get_f32(const struct gguf *g, const char *key, float *out);
int gguf_get_bool(const struct gguf *g, const char *key, bool *out);
int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out);

/* Arrays of fixed-size elements: *data points at n raw little-endian elements
 * of elem_type (possibly unaligned: read with memcpy). Not for string arrays. */
int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_type *elem_type,
                 uint64_t *n, const void **data);
/* Arrays of strings: *out is a new array of n gguf_str (caller frees it with
 * free(); NULL when n is 0); the strings themselves point into the image.
 * Also returns FIEF_ENOMEM. */
int gguf_get_str_arr(const struct gguf *g, const char *key, struct gguf_str **out,
                     uint64_t *n);

/* ---- tensors ---- */
size_t gguf_n_tensors(const struct gguf *g);
const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, size_t i);
/* NULL when absent. */
const struct gguf_tensor *gguf_tensor_find(const struct gguf *g, const char *name);

/* True when s equals the NUL-terminated c. */
bool gguf_str_eq(struct gguf_str s, const char *c);

/* ---- writer (gguf_write.c): builds a GGUF v3 file in a single pass ----
 * Usage: w = gguf_writer_new(); set every KV and declare every tensor; then
 * save. Tensor data is produced at save time by each tensor's fill callback,
 * one tensor at a time into a reused buffer (as large as the largest tensor),
 * so a huge generated model never sits in memory at once. Setting a key again
 * replaces its value. The setters return nothing: a bad argument (NULL or
 * over-long key, ...) is remembered and reported by gguf_writer_save. Values
 * are written little-endian; alignment is 32 unless general.alignment (u32)
 * says otherwise. gguf_writer_new aborts on OOM like xmalloc. */
struct gguf_writer;
typedef void (*gguf_fill_cb)(void *ud, size_t tensor_index, void *dst, uint64_t nbytes);

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);
void gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
/* Any fixed-size scalar type (u8 ... f64, bool): copies gguf_type_size(type)
 * bytes from v, in host order. */
void gguf_writer_set_scalar(struct gguf_writer *w, const char *key, enum gguf_type type,
                            const void *v);
/* Copies the n elements (elem_type must not be STRING or ARRAY). */
void gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_type elem_type,
                         const void *data, uint64_t n);
/* Copies the n NUL-terminated strings. */
void gguf_writer_set_str_arr(struct gguf_writer *w, const char *key,
                             const char *const *strs, uint64_t n);
/* Declares a tensor; its bytes come from fill(ud, index, dst, nbytes) at save
 * time (index = order of declaration). Returns 0 or FIEF_EINVAL (bad shape
 * for the type, duplicate name). */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const uint64_t *ne, gguf_fill_cb fill, void *ud);
/* Writes the file (to path.tmp, then renames; the tmp file is removed on
 * failure). 0, FIEF_EIO, FIEF_ENOMEM (tensor buffer), or FIEF_EINVAL /
 * FIEF_ELIMIT for an earlier bad setter call, with err set. May be called
 * again (e.g. to another path). */
int gguf_writer_save(struct gguf_writer *w, const char *path, char err[FIEF_ERR_LEN]);

#endif
