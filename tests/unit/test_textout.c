/* SPDX-License-Identifier: MIT */
/* The streaming detokenizer: UTF-8 characters split across byte tokens, invalid
 * bytes, stop sequences across token boundaries, overlapping stops, stops at the
 * very start, token attribution, and a randomized check against a one-shot
 * reference. Byte streams are built from SentencePiece byte tokens (<0xAB>) of
 * the shared stories260K vocabulary, so any byte sequence can be fed. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "engine/engine.h"
#include "pool/textout.h"

static struct eng_vocab *stories;
static int32_t byte_tok[256];

static int setup(void **state)
{
    (void)state;
    const char *path = tu_model_path("stories260K.gguf");
    if (!path)
        return 0;
    char err[FIEF_ERR_LEN];
    if (eng_vocab_open(path, &stories, err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    for (int b = 0; b < 256; b++)
        byte_tok[b] = -1;
    for (int32_t id = 0; id < eng_vocab_size(stories); id++) {
        unsigned b;
        const char *s = eng_vocab_text(stories, id);
        if (strlen(s) == 6 && sscanf(s, "<0x%2X>", &b) == 1)
            byte_tok[b] = id;
    }
    for (int b = 0; b < 256; b++)
        if (byte_tok[b] < 0)
            return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    eng_vocab_free(stories);
    return 0;
}

#define NEED_VOCAB()                                                                           \
    if (!stories)                                                                              \
    skip()

/* Everything one choice produced: the concatenated text, each emit's text, and
 * the token attribution, checked for contiguity as it goes. */
struct run {
    struct buf text;
    char pieces[64][64];
    int n_pieces;
    uint32_t tok_next;
    bool stopped;
    int stop;
};

static void run_init(struct run *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->text);
    r->stop = -1;
}

static bool valid_utf8(const char *s, size_t n)
{
    struct buf b;
    buf_init(&b);
    textout_utf8_sanitize(s, n, &b);
    bool ok = b.len == n && memcmp(b.data, s, n) == 0;
    buf_deinit(&b);
    return ok;
}

static void take(struct run *r, const struct textout_emit *e)
{
    assert_true(valid_utf8(e->text, e->len));
    assert_int_equal(e->tok_from, r->tok_next);
    r->tok_next += e->n_tok;
    buf_append(&r->text, e->text, e->len);
    if (r->n_pieces < 64 && e->len < 64) {
        memcpy(r->pieces[r->n_pieces], e->text, e->len);
        r->pieces[r->n_pieces][e->len] = '\0';
    }
    r->n_pieces++;
    if (e->stopped) {
        r->stopped = true;
        r->stop = e->stop;
    }
}

/* Feed bytes one byte token each, then finish. */
static void feed_bytes(struct textout *t, struct run *r, const char *s, size_t n, bool finish)
{
    struct textout_emit e;
    for (size_t i = 0; i < n && !textout_stopped(t); i++) {
        assert_int_equal(textout_feed(t, byte_tok[(unsigned char)s[i]], &e), 0);
        take(r, &e);
    }
    if (finish) {
        textout_finish(t, &e);
        take(r, &e);
    }
}

static struct textout *new1(const char *stop)
{
    size_t len = stop ? strlen(stop) : 0;
    struct textout *t = textout_new(stories, stop ? &stop : NULL, stop ? &len : NULL, stop ? 1 : 0);
    assert_non_null(t);
    return t;
}

static struct textout *newn(const char *const *stops, size_t n)
{
    size_t lens[TEXTOUT_MAX_STOPS];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(stops[i]);
    struct textout *t = textout_new(stories, stops, lens, n);
    assert_non_null(t);
    return t;
}

/* ---- plain text ---- */

static void test_ascii_tokens_pass_through(void **state)
{
    (void)state;
    NEED_VOCAB();
    int32_t ids[64];
    size_t n;
    const char *s = "Once upon a time, there was a little girl.";
    assert_int_equal(eng_tokenize(stories, s, strlen(s), 0, ids, 64, &n), 0);
    struct textout *t = new1(NULL);
    struct run r;
    run_init(&r);
    struct buf want;
    buf_init(&want);
    for (size_t i = 0; i < n; i++) {
        struct textout_emit e;
        assert_int_equal(textout_feed(t, ids[i], &e), 0);
        take(&r, &e);
        /* Nothing to hold back: each token's text leaves at once, with it. */
        assert_int_equal(e.n_tok, 1);
        assert_int_equal(e.tok_from, i);
        char p[64];
        int k = eng_token_piece(stories, ids[i], p, sizeof p, 0);
        assert_int_equal((size_t)k, e.len);
        assert_memory_equal(p, e.text, e.len);
    }
    assert_int_equal(eng_detokenize(stories, ids, n, false, &want), 0);
    assert_string_equal(r.text.data, want.data);
    assert_int_equal(textout_n_tokens(t), n);
    textout_free(t);
    buf_deinit(&want);
    buf_deinit(&r.text);
}

static void test_eog_renders_nothing_but_counts(void **state)
{
    (void)state;
    NEED_VOCAB();
    int32_t eos = eng_vocab_eos(stories);
    assert_true(eos >= 0);
    struct textout *t = new1(NULL);
    struct textout_emit e;
    assert_int_equal(textout_feed(t, byte_tok['H'], &e), 0);
    assert_int_equal(textout_feed(t, eos, &e), 0);
    assert_int_equal(e.len, 0);
    assert_int_equal(e.tok_from, 1);
    assert_int_equal(e.n_tok, 1); /* reported at once: it has no bytes to wait for */
    textout_finish(t, &e);
    assert_int_equal(e.len, 0);
    assert_int_equal(e.n_tok, 0);
    assert_int_equal(textout_n_tokens(t), 2);
    /* finish twice, feed after finish */
    textout_finish(t, &e);
    assert_int_equal(e.len, 0);
    assert_int_equal(textout_feed(t, byte_tok['x'], &e), FIEF_ESTATE);
    assert_int_equal(textout_n_tokens(t), 2);
    textout_free(t);
}

static void test_bad_id_renders_nothing(void **state)
{
    (void)state;
    NEED_VOCAB();
    struct textout *t = new1(NULL);
    struct textout_emit e;
    assert_int_equal(textout_feed(t, -5, &e), 0);
    assert_int_equal(e.len, 0);
    assert_int_equal(textout_feed(t, 1 << 30, &e), 0);
    assert_int_equal(textout_n_tokens(t), 2);
    textout_free(t);
}

static void test_new_rejects_bad_stops(void **state)
{
    (void)state;
    NEED_VOCAB();
    const char *s[5] = {"a", "b", "c", "d", "e"};
    size_t l[5] = {1, 1, 1, 1, 1};
    assert_null(textout_new(stories, s, l, 5));
    l[0] = 0;
    assert_null(textout_new(stories, s, l, 1));
    l[0] = TEXTOUT_MAX_STOP_LEN + 1;
    assert_null(textout_new(stories, s, l, 1));
    assert_null(textout_new(NULL, NULL, NULL, 0));
    assert_null(textout_new(stories, NULL, NULL, 1));
    l[0] = TEXTOUT_MAX_STOP_LEN;
    char big[TEXTOUT_MAX_STOP_LEN];
    memset(big, 'z', sizeof big);
    s[0] = big;
    struct textout *t = textout_new(stories, s, l, 4);
    assert_non_null(t);
    textout_free(t);
    textout_free(NULL);
}

/* ---- UTF-8 ---- */

static void test_utf8_two_bytes_split(void **state)
{
    (void)state;
    NEED_VOCAB();
    struct textout *t = new1(NULL);
    struct textout_emit e;
    assert_int_equal(textout_feed(t, byte_tok['c'], &e), 0);
    assert_int_equal(e.len, 1);
    assert_int_equal(textout_feed(t, byte_tok[0xC3], &e), 0);
    assert_int_equal(e.len, 0); /* half a character waits */
    assert_int_equal(e.n_tok, 0);
    assert_int_equal(textout_feed(t, byte_tok[0xA9], &e), 0);
    assert_int_equal(e.len, 2);
    assert_memory_equal(e.text, "\xC3\xA9", 2);
    assert_int_equal(e.tok_from, 1); /* both byte tokens end in this text */
    assert_int_equal(e.n_tok, 2);
    textout_free(t);
}

static void test_utf8_three_and_four_bytes(void **state)
{
    (void)state;
    NEED_VOCAB();
    const char *s = "\xE2\x82\xAC\xF0\x9F\x8E\x89!"; /* euro sign, party popper, ! */
    struct textout *t = new1(NULL);
    struct run r;
    run_init(&r);
    feed_bytes(t, &r, s, strlen(s), true);
    assert_string_equal(r.text.data, s);
    /* emits: "", "", "€", "", "", "", "🎉", "!", finish "" */
    assert_int_equal(r.n_pieces, 9);
    assert_string_equal(r.pieces[2], "\xE2\x82\xAC");
    assert_string_equal(r.pieces[6], "\xF0\x9F\x8E\x89");
    assert_string_equal(r.pieces[7], "!");
    assert_int_equal(r.tok_next, 8);
    textout_free(t);
    buf_deinit(&r.text);
}

static void check_bytes(const char *in, size_t n, const char *want)
{
    struct textout *t = new1(NULL);
    struct run r;
    run_init(&r);
    feed_bytes(t, &r, in, n, true);
    assert_string_equal(r.text.data ? r.text.data : "", want);
    assert_int_equal(r.tok_next, n);
    textout_free(t);
    buf_deinit(&r.text);
}

#define FFFD "\xEF\xBF\xBD"

static void test_utf8_invalid_bytes(void **state)
{
    (void)state;
    NEED_VOCAB();
    check_bytes("\xA9", 1, FFFD);                  /* lone continuation */
    check_bytes("\xC3" "A", 2, FFFD "A");          /* lead then ASCII */
    check_bytes("\xC3", 1, FFFD);                  /* unfinished at the end */
    check_bytes("ab\xE2\x82", 4, "ab" FFFD);       /* one U+FFFD for the subpart */
    check_bytes("\xE0\x80", 2, FFFD FFFD);         /* overlong: E0 needs A0..BF */
    check_bytes("\xED\xA0\x80", 3, FFFD FFFD FFFD); /* surrogate */
    check_bytes("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    check_bytes("\xC0\xAF", 2, FFFD FFFD);
    check_bytes("\xFF", 1, FFFD);
    check_bytes("\xF0\x9F\x8E", 3, FFFD);
    check_bytes("\xF0\x9F\x8E" "x", 4, FFFD "x");
}

static void test_utf8_invalid_released_without_waiting(void **state)
{
    (void)state;
    NEED_VOCAB();
    struct textout *t = new1(NULL);
    struct textout_emit e;
    assert_int_equal(textout_feed(t, byte_tok[0xC3], &e), 0);
    assert_int_equal(e.len, 0);
    /* 'A' proves C3 can never be finished: both leave now. */
    assert_int_equal(textout_feed(t, byte_tok['A'], &e), 0);
    assert_string_equal(e.text, FFFD "A");
    assert_int_equal(e.n_tok, 2);
    textout_free(t);
}

static void test_sanitize_and_chars(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    textout_utf8_sanitize("", 0, &b);
    assert_int_equal(b.len, 0);
    textout_utf8_sanitize("h\xC3\xA9llo \xF0\x9F\x8E\x89", 11, &b);
    assert_string_equal(b.data, "h\xC3\xA9llo \xF0\x9F\x8E\x89");
    assert_int_equal(textout_utf8_chars(b.data, b.len), 7);
    buf_reset(&b);
    textout_utf8_sanitize("a\x80" "b\xE2\x82", 5, &b);
    assert_string_equal(b.data, "a" FFFD "b" FFFD);
    buf_deinit(&b);
}

/* Every token of a real multilingual tokenization through the Llama 2 vocabulary
 * (emoji and rare CJK characters fall back to byte tokens). */
static void test_utf8_real_byte_fallback(void **state)
{
    (void)state;
    const char *path = tu_model_path("llama-2-tiny-random.gguf");
    if (!path)
        skip();
    char err[FIEF_ERR_LEN];
    struct eng_vocab *v = NULL;
    assert_int_equal(eng_vocab_open(path, &v, err), 0);
    const char *s = "Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x8E\x89\xF0\x9F\xA6\x99 "
                    "\xE9\xBE\x98 \xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82";
    int32_t ids[128];
    size_t n;
    assert_int_equal(eng_tokenize(v, s, strlen(s), 0, ids, 128, &n), 0);
    struct textout *t = textout_new(v, NULL, NULL, 0);
    assert_non_null(t);
    struct run r;
    run_init(&r);
    int held = 0;
    for (size_t i = 0; i < n; i++) {
        struct textout_emit e;
        assert_int_equal(textout_feed(t, ids[i], &e), 0);
        held += e.len == 0;
        take(&r, &e);
    }
    struct textout_emit e;
    textout_finish(t, &e);
    take(&r, &e);
    assert_true(held > 0); /* some characters did span byte tokens */
    struct buf want;
    buf_init(&want);
    assert_int_equal(eng_detokenize(v, ids, n, false, &want), 0);
    assert_string_equal(r.text.data, want.data);
    assert_int_equal(r.tok_next, n);
    buf_deinit(&want);
    buf_deinit(&r.text);
    textout_free(t);
    eng_vocab_free(v);
}

/* ---- stop sequences ---- */

static void test_stop_across_tokens(void **state)
{
    (void)state;
    NEED_VOCAB();
    struct textout *t = new1("END");
    struct run r;
    run_init(&r);
    feed_bytes(t, &r, "abcENDxyz", 9, false);
    assert_true(r.stopped);
    assert_int_equal(r.stop, 0);
    assert_string_equal(r.text.data, "abc");
    /* counted up to and including the token that completed "END" */
    assert_int_equal(textout_n_tokens(t), 6);
    assert_int_equal(r.tok_next, 6);
    struct textout_emit e;
    assert_int_equal(textout_feed(t, byte_tok['x'], &e), FIEF_ESTATE);
    textout_finish(t, &e);
    assert_int_equal(e.len, 0);
    assert_int_equal(e.n_tok, 0);
    textout_free(t);
    buf_deinit(&r.text);
}

static void test_stop_holds_prefix_then_releases(void **state)
{
    (void)state;
    NEED_VOCAB();
    struct textout *t = new1("abc");
    struct run r;
    run_init(&r);
    feed_bytes(t, &r, "xab", 3, false);
    assert_string_equal(r.text.data, "x"); /* "ab" might become "abc" */
    assert_int_equal(r.tok_next, 1);
    struct textout_emit e;
    assert_int_equal(textout_feed(t, byte_tok['d'], &e), 0);
    assert_string_equal(e.text, "abd");
    assert_int_equal(e.tok_from, 1);
    assert_int_equal(e.n_tok, 3);
    assert_false(e.stopped);
    textout_free(t);
    buf_deinit(&r.text);
}

static void test_stop_prefix_released_at_finish(void **state)
{
    (void)state;
    NEED_VOCAB();
    struct textout *t = new1("abc");
    struct run r;
    run_init(&r);
    feed_bytes(t, &r, "zzab", 4, true);
    assert_string_equal(r.text.data, "zzab");
    assert_false(r.stopped);
    assert_int_equal(r.tok_next, 4);
    textout_free(t);
    buf_deinit(&r.text);
}

static void test_stop_at_very_start(void **state)
{
    (void)state;
    NEED_VOCAB();
    int32_t ids[16];
    size_t n;
    assert_int_equal(eng_tokenize(stories, "Once upon", 9, 0, ids, 16, &n), 0);
    struct textout *t = new1(" Once"); /* SPM pieces carry the leading space */
    struct textout_emit e;
    assert_int_equal(textout_feed(t, ids[0], &e), 0);
    assert_true(e.stopped);
    assert_int_equal(e.len, 0);
    assert_int_equal(e.n_tok, 1);
    assert_int_equal(textout_n_tokens(t), 1);
    textout_free(t);
}

static void test_stop_inside_one_token(void **state)
{
    (void)state;
    NEED_VOCAB();
    int32_t ids[16];
    size_t n;
    assert_int_equal(eng_tokenize(stories, "Once upon a time there", 22, 0, ids, 16, &n), 0);
    struct textout *t = new1("pon a");
    struct run r;
    run_init(&r);
    for (size_t i = 0; i < n && !r.stopped; i++) {
        struct textout_emit e;
        assert_int_equal(textout_feed(t, ids[i], &e), 0);
        take(&r, &e);
    }
    assert_true(r.stopped);
    assert_string_equal(r.text.data, " Once u");
    assert_int_equal(r.tok_next, textout_n_tokens(t));
    textout_free(t);
    buf_deinit(&r.text);
}

static void test_stop_overlapping_earliest_start_wins(void **state)
{
    (void)state;
    NEED_VOCAB();
    /* both complete in the same token: the one that starts first cuts */
    const char *a[] = {"bcd", "abc"};
    struct textout *t = newn(a, 2);
    struct run r;
    run_init(&r);
    feed_bytes(t, &r, "xabcd", 5, false);
    assert_true(r.stopped);
    assert_int_equal(r.stop, 1);
    assert_string_equal(r.text.data, "x");
    textout_free(t);
    buf_deinit(&r.text);

    /* a short stop inside a longer one's prefix completes first */
    const char *b[] = {"abcd", "bc"};
    t = newn(b, 2);
    run_init(&r);
    feed_bytes(t, &r, "abcd", 4, false);
    assert_true(r.stopped);
    assert_int_equal(r.stop, 1);
    assert_string_equal(r.text.data, "a");
    assert_int_equal(textout_n_tokens(t), 3);
    textout_free(t);
    buf_deinit(&r.text);
}

static void test_stop_self_overlapping(void **state)
{
    (void)state;
    NEED_VOCAB();
    /* "aab" in "aaab": the held suffix must track the longest prefix */
    struct textout *t = new1("aab");
    struct run r;
    run_init(&r);
    feed_bytes(t, &r, "aaab", 4, false);
    assert_true(r.stopped);
    assert_string_equal(r.text.data, "a");
    textout_free(t);
    buf_deinit(&r.text);

    t = new1("abab");
    run_init(&r);
    feed_bytes(t, &r, "abaabab!", 8, false);
    assert_true(r.stopped);
    assert_string_equal(r.text.data, "aba");
    textout_free(t);
    buf_deinit(&r.text);
}

static void test_stop_multibyte(void **state)
{
    (void)state;
    NEED_VOCAB();
    struct textout *t = new1("\xC3\xA9t\xC3\xA9");
    struct run r;
    run_init(&r);
    feed_bytes(t, &r, "un \xC3\xA9t\xC3\xA9 chaud", 15, true);
    assert_true(r.stopped);
    assert_string_equal(r.text.data, "un ");
    textout_free(t);
    buf_deinit(&r.text);
}

static void test_stop_newline_and_four_stops(void **state)
{
    (void)state;
    NEED_VOCAB();
    const char *s[] = {"###", "\n\n", "User:", "</s>"};
    struct textout *t = newn(s, 4);
    struct run r;
    run_init(&r);
    const char *in = "Hi there.\nUse it.\n\nUser: more";
    feed_bytes(t, &r, in, strlen(in), true);
    assert_true(r.stopped);
    assert_int_equal(r.stop, 1);
    assert_string_equal(r.text.data, "Hi there.\nUse it.");
    textout_free(t);
    buf_deinit(&r.text);
}

static void test_stop_max_length(void **state)
{
    (void)state;
    NEED_VOCAB();
    char stop[TEXTOUT_MAX_STOP_LEN + 1];
    memset(stop, 'q', TEXTOUT_MAX_STOP_LEN - 1);
    stop[TEXTOUT_MAX_STOP_LEN - 1] = '!';
    stop[TEXTOUT_MAX_STOP_LEN] = '\0';
    struct textout *t = new1(stop);
    struct run r;
    run_init(&r);
    char in[600];
    memset(in, 'q', 400);
    in[400] = '!';
    feed_bytes(t, &r, in, 401, true);
    assert_true(r.stopped);
    assert_int_equal(r.text.len, 400 - (TEXTOUT_MAX_STOP_LEN - 1));
    textout_free(t);
    buf_deinit(&r.text);
}

/* ---- randomized: streaming equals the one-shot definition ---- */

/* Reference: after each byte-token, look for the earliest stop in the whole
 * text so far; the first time one exists, cut there. */
static void reference(const char *in, size_t n, const char *const *stops, size_t ns,
                      struct buf *out, size_t *n_tok, bool *stopped)
{
    *stopped = false;
    *n_tok = n;
    size_t cut = n;
    for (size_t k = 1; k <= n && !*stopped; k++) {
        for (size_t i = 0; i < ns; i++) {
            const char *m = memmem(in, k, stops[i], strlen(stops[i]));
            if (m && (!*stopped || (size_t)(m - in) < cut)) {
                cut = (size_t)(m - in);
                *stopped = true;
                *n_tok = k;
            }
        }
    }
    textout_utf8_sanitize(in, cut, out);
}

static void test_random_against_reference(void **state)
{
    (void)state;
    NEED_VOCAB();
    /* A small alphabet makes matches and near-matches frequent; it mixes ASCII,
     * the bytes of 2-, 3- and 4-byte characters and invalid bytes. */
    static const unsigned char alpha[] = {'a', 'b', '\n', 0xC3, 0xA9, 0xE2, 0x82,
                                          0xAC, 0xF0, 0x9F, 0x8E, 0x89, 0xFF};
    static const char *pool[] = {"ab", "a\n", "ba", "\xC3\xA9", "\342\202\254a",
                                 "aab", "b\xF0\x9F\x8E\x89", "abba", "\n\n", "bbb"};
    uint64_t rng = 42;
    for (int iter = 0; iter < 3000; iter++) {
        char in[64];
        size_t n = tu_rand(&rng) % sizeof in;
        for (size_t i = 0; i < n; i++)
            in[i] = (char)alpha[tu_rand(&rng) % sizeof alpha];
        size_t ns = tu_rand(&rng) % 5;
        const char *stops[4];
        for (size_t i = 0; i < ns; i++)
            stops[i] = pool[tu_rand(&rng) % (sizeof pool / sizeof *pool)];

        struct buf want;
        buf_init(&want);
        size_t want_tok;
        bool want_stop;
        reference(in, n, stops, ns, &want, &want_tok, &want_stop);

        struct textout *t = newn(stops, ns);
        struct run r;
        run_init(&r);
        feed_bytes(t, &r, in, n, true);
        if (r.text.len != want.len || (want.len && memcmp(r.text.data, want.data, want.len))) {
            fprintf(stderr, "iter %d: text differs (%zu vs %zu bytes)\n", iter, r.text.len,
                    want.len);
            fail();
        }
        assert_int_equal(r.stopped, want_stop);
        assert_int_equal(textout_n_tokens(t), want_tok);
        assert_int_equal(r.tok_next, want_tok);
        textout_free(t);
        buf_deinit(&r.text);
        buf_deinit(&want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_tokens_pass_through),
        cmocka_unit_test(test_eog_renders_nothing_but_counts),
        cmocka_unit_test(test_bad_id_renders_nothing),
        cmocka_unit_test(test_new_rejects_bad_stops),
        cmocka_unit_test(test_utf8_two_bytes_split),
        cmocka_unit_test(test_utf8_three_and_four_bytes),
        cmocka_unit_test(test_utf8_invalid_bytes),
        cmocka_unit_test(test_utf8_invalid_released_without_waiting),
        cmocka_unit_test(test_sanitize_and_chars),
        cmocka_unit_test(test_utf8_real_byte_fallback),
        cmocka_unit_test(test_stop_across_tokens),
        cmocka_unit_test(test_stop_holds_prefix_then_releases),
        cmocka_unit_test(test_stop_prefix_released_at_finish),
        cmocka_unit_test(test_stop_at_very_start),
        cmocka_unit_test(test_stop_inside_one_token),
        cmocka_unit_test(test_stop_overlapping_earliest_start_wins),
        cmocka_unit_test(test_stop_self_overlapping),
        cmocka_unit_test(test_stop_multibyte),
        cmocka_unit_test(test_stop_newline_and_four_stops),
        cmocka_unit_test(test_stop_max_length),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
