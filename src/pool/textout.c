/* SPDX-License-Identifier: MIT */
/* Streaming detokenizer for one choice: joins token pieces, holds back bytes
 * that could still finish a UTF-8 character or grow into a stop sequence,
 * cuts at the first stop sequence, and tells which tokens each released piece
 * of text completes (for per-token logprobs). */
#include "pool/textout.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "engine/engine.h"

struct textout {
    const struct eng_vocab *v;
    size_t n_stops;
    char stops[TEXTOUT_MAX_STOPS][TEXTOUT_MAX_STOP_LEN];
    size_t stop_len[TEXTOUT_MAX_STOPS];
    struct buf hold;      /* bytes fed but not yet released */
    uint64_t released;    /* bytes released so far (offset of hold[0]) */
    uint64_t *ends;       /* byte offset where each unreported token ends */
    size_t cap_ends;
    uint32_t n_fed;       /* tokens counted */
    uint32_t n_reported;  /* tokens already attached to an emit */
    struct buf out;       /* text of the last emit */
    bool stopped, finished;
    int stop;
};

/* ---- UTF-8 ---- */

/* The UTF-8 sequence at s[0..n), n >= 1: > 0 is the length of a valid
 * character; 0 means s is a valid but unfinished prefix; < 0 is minus the
 * length of an invalid maximal subpart (one U+FFFD replaces it). */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    int need;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
    } else {
        return -1;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n)
            return 0;
        if (s[i] < lo || s[i] > hi)
            return -i;
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

void textout_utf8_sanitize(const char *s, size_t n, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: start of the valid bytes not yet appended */
    buf_reserve(out, n);
    if (n == 0)
        return;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        int r = utf8_seq(p + i, n - i);
        if (r > 0) {
            i += (size_t)r;
            continue;
        }
        buf_append(out, s + run, i - run);
        buf_append(out, "\xEF\xBF\xBD", 3);
        i = r == 0 ? n : i + (size_t)-r;
        run = i;
    }
    buf_append(out, s + run, n - run);
}

size_t textout_utf8_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* Where a valid but unfinished character at the end of s[0..n) starts, or n
 * when s ends with a whole character (or with bytes that can never be one). */
static size_t utf8_tail_start(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        size_t at = n - k;
        if ((p[at] & 0xC0) != 0x80)
            return utf8_seq(p + at, k) == 0 ? at : n;
    }
    return n;
}

/* ---- lifecycle ---- */

struct textout *textout_new(const struct eng_vocab *v, const char *const *stops,
                            const size_t *stop_lens, size_t n_stops)
{
    if (!v || n_stops > TEXTOUT_MAX_STOPS || (n_stops && (!stops || !stop_lens)))
        return NULL;
    for (size_t i = 0; i < n_stops; i++)
        if (!stops[i] || stop_lens[i] == 0 || stop_lens[i] > TEXTOUT_MAX_STOP_LEN)
            return NULL;
    struct textout *t = xcalloc(1, sizeof *t);
    t->v = v;
    t->n_stops = n_stops;
    t->stop = -1;
    for (size_t i = 0; i < n_stops; i++) {
        memcpy(t->stops[i], stops[i], stop_lens[i]);
        t->stop_len[i] = stop_lens[i];
    }
    buf_init(&t->hold);
    buf_init(&t->out);
    return t;
}

void textout_free(struct textout *t)
{
    if (!t)
        return;
    buf_deinit(&t->hold);
    buf_deinit(&t->out);
    free(t->ends);
    free(t);
}

uint32_t textout_n_tokens(const struct textout *t)
{
    return t->n_fed;
}

bool textout_stopped(const struct textout *t)
{
    return t->stopped;
}

/* ---- feeding ---- */

/* Append the bytes token id contributes; end-of-generation and bad ids add
 * nothing (a miner's garbage id is the scheduler's to reject, not ours). */
static void append_piece(struct textout *t, int32_t id)
{
    if (eng_vocab_is_eog(t->v, id))
        return;
    char small[256];
    int n = eng_token_piece(t->v, id, small, sizeof small, 0);
    if (n <= 0)
        return;
    if ((size_t)n <= sizeof small) {
        buf_append(&t->hold, small, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n);
    eng_token_piece(t->v, id, big, (size_t)n, 0);
    buf_append(&t->hold, big, (size_t)n);
    free(big);
}

/* Earliest-starting stop sequence inside the held bytes: its offset in hold
 * and index, or false. A match cannot begin in text already released,
 * because a suffix that is a prefix of a stop sequence is never released. */
static bool find_stop(const struct textout *t, size_t *at, int *which)
{
    bool found = false;
    for (size_t i = 0; i < t->n_stops && t->hold.len; i++) {
        const char *m = memmem(t->hold.data, t->hold.len, t->stops[i], t->stop_len[i]);
        if (m && (!found || (size_t)(m - t->hold.data) < *at)) {
            *at = (size_t)(m - t->hold.data);
            *which = (int)i;
            found = true;
        }
    }
    return found;
}

/* Length of the longest suffix of hold that is a proper prefix of a stop
 * sequence: those bytes must wait for the next token. */
static size_t stop_prefix_len(const struct textout *t)
{
    size_t best = 0, n = t->hold.len;
    for (size_t i = 0; i < t->n_stops; i++) {
        size_t k = t->stop_len[i] - 1 < n ? t->stop_len[i] - 1 : n;
        for (; k > best; k--) {
            const char *tail = t->hold.data + n - k;
            if (tail[0] == t->stops[i][0] && memcmp(tail, t->stops[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

static void push_end(struct textout *t, uint64_t end)
{
    size_t pending = t->n_fed - t->n_reported;
    if (pending == t->cap_ends) {
        t->cap_ends = t->cap_ends ? t->cap_ends * 2 : 16;
        t->ends = xrealloc(t->ends, t->cap_ends * sizeof *t->ends);
    }
    t->ends[pending] = end;
}

/* Release hold[0..n) into the emit and attach every token whose bytes are
 * now all out (all tokens when all is set: the text ends here). */
static void release(struct textout *t, size_t n, bool all, struct textout_emit *e)
{
    buf_reset(&t->out);
    if (n) {
        textout_utf8_sanitize(t->hold.data, n, &t->out);
        memmove(t->hold.data, t->hold.data + n, t->hold.len - n);
        t->hold.len -= n;
        t->hold.data[t->hold.len] = '\0';
        t->released += n;
    }

    size_t pending = t->n_fed - t->n_reported, k = 0;
    while (k < pending && (all || t->ends[k] <= t->released))
        k++;
    if (k && k < pending)
        memmove(t->ends, t->ends + k, (pending - k) * sizeof *t->ends);
    e->text = t->out.data ? t->out.data : "";
    e->len = t->out.len;
    e->tok_from = t->n_reported;
    e->n_tok = (uint32_t)k;
    t->n_reported += (uint32_t)k;
}

static void emit_empty(const struct textout *t, struct textout_emit *e)
{
    *e = (struct textout_emit){.text = "", .tok_from = t->n_reported, .stop = -1};
}

int textout_feed(struct textout *t, int32_t id, struct textout_emit *out)
{
    emit_empty(t, out);
    if (t->stopped || t->finished)
        return FIEF_ESTATE;
    append_piece(t, id);
    push_end(t, t->released + t->hold.len);
    t->n_fed++;

    size_t cut = 0;
    int which = -1;
    if (find_stop(t, &cut, &which)) {
        /* The stop sequence and anything after it are dropped, but the
         * tokens that produced them were generated and count. */
        t->stopped = true;
        t->stop = which;
        release(t, cut, true, out);
        buf_reset(&t->hold);
        out->stopped = true;
        out->stop = which;
        return 0;
    }
    size_t n = t->hold.len - stop_prefix_len(t);
    size_t tail = utf8_tail_start(t->hold.data, t->hold.len);
    release(t, tail < n ? tail : n, false, out);
    return 0;
}

void textout_finish(struct textout *t, struct textout_emit *out)
{
    emit_empty(t, out);
    if (t->stopped || t->finished)
        return;
    t->finished = true;
    release(t, t->hold.len, true, out);
}
