/* SPDX-License-Identifier: MIT */
/* Private to src/proto: helpers shared by the envelope (proto.c), the field
 * table engine (proto_field.c) and the message tables (proto_msg.c). */
#ifndef FIEF_PROTO_IMPL_H
#define FIEF_PROTO_IMPL_H

#include <jansson.h>
#include <stddef.h>

/* Copy src[0..len) into dst (cap bytes, cap >= 1) as safe free text: valid
 * UTF-8 without control characters (C0, DEL, C1). Invalid bytes and control
 * characters become '?'; the copy stops at the last whole character that
 * fits in cap - 1 bytes; dst is NUL-terminated. Returns the bytes written. */
size_t proto_text_clean(char *dst, size_t cap, const char *src, size_t len);

/* Whether s[0..len) holds a control character (C0, DEL, or C1 as UTF-8);
 * returns its byte offset, or -1. Assumes valid UTF-8 (jansson checks it). */
long proto_text_ctl(const char *s, size_t len);

/* ---- field tables: a message is a table of fields ---- */

enum proto_ftype {
    PF_U32,     /* JSON integer (1.0 and "1" are not) -> uint32_t */
    PF_I32,     /* ... -> int32_t */
    PF_U64,     /* ... -> uint64_t */
    PF_F32,     /* JSON number (integers allowed) -> float */
    PF_F64,     /* ... -> double */
    PF_BOOL,    /* true/false -> bool */
    PF_STR,     /* string in charset cs -> char[cnt] */
    PF_ENUM,    /* one of the strings in sub -> enum value 1.. */
    PF_CAPS,    /* array of names in sub -> bit 1 << index; unknown names ignored */
    PF_IDS,     /* token ids -> malloc'd int32_t[] */
    PF_LPS,     /* log-probs -> malloc'd float[] */
    PF_GAPS,    /* margins: finite numbers >= 0 -> malloc'd float[] */
    PF_TOP_IDS, /* n rows of top_n ids -> malloc'd int32_t[n * top_n], row by row */
    PF_TOP_LPS, /* n rows of top_n log-probs -> malloc'd float[n * top_n] */
    PF_OBJ,     /* object -> the inline struct described by sub */
    PF_OBJS,    /* array of objects -> inline array of esize-byte structs */
};

enum {
    PF_OPT = 1,   /* may be absent: numbers take def, the rest stays zero */
    PF_OMITZ = 2, /* the encoder leaves it out when zero, empty or NULL */
};

enum proto_charset {
    PF_CS_NAME = 1, /* [A-Za-z0-9._-] */
    PF_CS_MODEL,    /* [A-Za-z0-9._:/-] */
    PF_CS_ASCII,    /* printable ASCII */
    PF_CS_TEXT,     /* UTF-8 without control characters */
    PF_CS_HEX,      /* exactly cnt - 1 hex digits, stored lowercase */
    PF_CS_DIGEST,   /* "sha256:" + 64 hex digits, stored lowercase */
    PF_CS_URL,      /* fief+tcp:// or fief+tls://, printable ASCII without spaces */
};

struct proto_field {
    const char *key;
    unsigned char type, flags, cs;
    unsigned short off;   /* the value; for arrays the pointer */
    unsigned short cnt;   /* PF_STR: the char array's size; arrays, PF_OBJS: the uint32_t count */
    unsigned short cnt2;  /* PF_TOP_*: the uint32_t row length */
    unsigned short esize; /* PF_OBJS: element size */
    const char *same;     /* arrays: the earlier array whose length (at cnt) this one repeats */
    double lo, hi;        /* numbers: range; arrays: length range; PF_TOP_*: row length range */
    double def;           /* PF_OPT numbers: the value when absent */
    const void *sub;      /* PF_OBJ(S): struct proto_msgdef; PF_ENUM, PF_CAPS: NULL-ended names */
};

struct proto_ctx {
    char *err;
    const char *msg; /* "job", "offer result" ... */
    char path[48];   /* inside nested objects: "\"models\"[2]." */
};

struct proto_msgdef {
    const char *name;
    const struct proto_field *f;
    size_t nf;
    size_t size;
    /* Rules that span fields, run after the table (may be NULL). */
    int (*check)(json_t *o, void *out, struct proto_ctx *c);
};

/* Decode object o into out (d->size bytes, zeroed first) by d's table, then
 * run d->check. Returns 0, or FIEF_EPROTO/FIEF_ENOMEM with err set and out
 * zeroed (its arrays freed). */
int proto_fields_decode(const struct proto_msgdef *d, json_t *o, void *out, char *err);
/* A new object holding in's fields (F_OMITZ ones left out when zero). */
json_t *proto_fields_encode(const struct proto_msgdef *d, const void *in);
/* Free the arrays a decode allocated and zero m. */
void proto_fields_clear(const struct proto_msgdef *d, void *m);
/* err = "<msg>: <path>\"<key>\"<fmt...>"; returns FIEF_EPROTO. For check hooks. */
int proto_fields_bad(const struct proto_ctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
