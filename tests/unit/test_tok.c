/* SPDX-License-Identifier: MIT */
/* Tokenizers: llama.cpp's own test vectors (the .inp/.out files in vocab/) for SPM and BPE
 * vocabularies, round trips, special tokens, pieces, hostile input, speed, the
 * Llama 3 / Qwen2 pre-tokenizer splits, and malformed vocabularies. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/tok.h"
#include "engine/tok_impl.h"
#include "engine/unicode.h"

#define SEP "\n__ggml_vocab_test__\n"

/* ---- helpers ---- */

static struct eng_vocab *open_vocab(const char *path)
{
    char err[FIEF_ERR_LEN] = "";
    struct eng_vocab *v = NULL;
    int rc = eng_vocab_open(path, &v, err);
    if (rc)
        fprintf(stderr, "eng_vocab_open(%s): %s\n", path, err);
    assert_int_equal(rc, 0);
    return v;
}

/* Tokenize into a malloc'd array; *n gets the count. */
static int32_t *tokenize(const struct eng_vocab *v, const char *s, size_t len, int flags, size_t *n)
{
    size_t cap = len + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(eng_tokenize(v, s, len, flags, ids, cap, n), 0);
    assert_true(*n <= cap);
    return ids;
}

static char *detokenize(const struct eng_vocab *v, const int32_t *ids, size_t n, bool strip,
                        size_t *len)
{
    struct buf b;
    buf_init(&b);
    assert_int_equal(eng_detokenize(v, ids, n, strip, &b), 0);
    *len = b.len;
    char *s = buf_steal(&b);
    return s ? s : calloc(1, 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- llama.cpp's vectors ---- */

/* Check one expected line (" 1 2 3") against ids; prints the first mismatch. */
static bool line_matches(const char *line, const int32_t *ids, size_t n, int idx)
{
    size_t k = 0;
    const char *p = line;
    char *end;
    for (;;) {
        long id = strtol(p, &end, 10);
        if (end == p)
            break;
        if (k >= n || ids[k] != id) {
            fprintf(stderr, "  case %d: token %zu: want %ld, got %d\n", idx, k, id,
                    k < n ? ids[k] : -1);
            return false;
        }
        k++;
        p = end;
    }
    if (k != n)
        fprintf(stderr, "  case %d: want %zu tokens, got %zu\n", idx, k, n);
    return k == n;
}

/* Runs every case of vocab/<name>.gguf.inp/.out; returns failures. With
 * round_trip, also demands detokenize(tokenize(s)) == s. */
static int run_vectors(const char *name, bool round_trip)
{
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    const char *path = tu_model_path(rel);
    if (!path)
        return -1;
    char inp_path[512], out_path[512];
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    size_t inp_len, out_len;
    char *inp = tu_read_file(inp_path, &inp_len), *out = tu_read_file(out_path, &out_len);
    assert_non_null(inp);
    assert_non_null(out);
    struct eng_vocab *v = open_vocab(path);
    int fails = 0, total = 0;
    char *cur = inp, *line = out;
    for (char *sep; (sep = strstr(cur, SEP)) != NULL; cur = sep + strlen(SEP), total++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        size_t n, len = (size_t)(sep - cur);
        int32_t *ids = tokenize(v, cur, len, 0, &n);
        bool ok = line_matches(line, ids, n, total);
        if (ok && round_trip) {
            size_t dl;
            char *d = detokenize(v, ids, n, true, &dl);
            ok = dl == len && memcmp(d, cur, len) == 0;
            if (!ok)
                fprintf(stderr, "  case %d: round trip differs\n", total);
            free(d);
        }
        fails += !ok;
        free(ids);
        line = nl + 1;
    }
    fprintf(stderr, "vocab %-10s %d/%d cases pass\n", name, total - fails, total);
    assert_true(total >= 40);
    eng_vocab_free(v);
    free(inp);
    free(out);
    return fails;
}

#define VECTOR_TEST(fn, name)                                                                      \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        int fails = run_vectors(name, true);                                                       \
        if (fails < 0)                                                                             \
            skip();                                                                                \
        assert_int_equal(fails, 0);                                                                \
    }

VECTOR_TEST(test_vectors_llama_spm, "llama-spm")
VECTOR_TEST(test_vectors_phi3, "phi-3")
VECTOR_TEST(test_vectors_gpt2, "gpt-2")
VECTOR_TEST(test_vectors_mpt, "mpt")
VECTOR_TEST(test_vectors_starcoder, "starcoder")
VECTOR_TEST(test_vectors_refact, "refact")

/* ---- one model end to end ---- */

static void test_stories_bos(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "stories260K.gguf");
    struct eng_vocab *v = open_vocab(path);
    assert_int_equal(eng_vocab_kind(v), ENG_VOCAB_SPM);
    assert_int_equal(eng_vocab_size(v), 512);
    assert_int_equal(eng_vocab_bos(v), 1);
    assert_int_equal(eng_vocab_eos(v), 2);
    assert_true(eng_vocab_adds_bos(v));
    assert_true(eng_vocab_is_eog(v, 2));
    assert_false(eng_vocab_is_eog(v, 1));
    assert_string_equal(eng_vocab_pre(v), "spm");
    assert_string_equal(eng_vocab_text(v, 1), "<s>");
    assert_null(eng_vocab_text(v, 512));
    assert_int_equal(eng_vocab_chat_family(v), ENG_CHAT_PLAIN);
    const char *s = "Once upon a time";
    size_t n;
    int32_t *ids = tokenize(v, s, strlen(s), ENG_TOK_ADD_BOS, &n);
    const int32_t want[] = {1, 403, 407, 261, 378};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    size_t dl;
    char *d = detokenize(v, ids, n, true, &dl);
    assert_string_equal(d, s);
    free(d);
    free(ids);
    eng_vocab_free(v);
}

/* ---- special tokens ---- */

static void test_parse_special_bpe(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "vocab/ggml-vocab-gpt-2.gguf");
    struct eng_vocab *v = open_vocab(path);
    const char *s = "<|endoftext|>Hello";
    size_t n;
    int32_t *ids = tokenize(v, s, strlen(s), ENG_TOK_PARSE_SPECIAL, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 50256);
    assert_int_equal(ids[1], 15496); /* "Hello" */
    free(ids);
    ids = tokenize(v, s, strlen(s), 0, &n); /* as plain text: no 50256 */
    assert_true(n > 2);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], 50256);
    free(ids);
    assert_true(eng_vocab_is_eog(v, 50256));
    assert_false(eng_vocab_adds_bos(v));             /* gpt2 does not add BOS... */
    ids = tokenize(v, "Hi", 2, ENG_TOK_ADD_BOS, &n); /* ...so the flag adds nothing */
    assert_int_equal(n, 1);
    free(ids);
    char piece[32];
    assert_int_equal(eng_token_piece(v, 50256, piece, sizeof piece, 0), 0);
    assert_int_equal(eng_token_piece(v, 50256, piece, sizeof piece, ENG_PIECE_SPECIAL), 13);
    assert_memory_equal(piece, "<|endoftext|>", 13);
    eng_vocab_free(v);
}

/* Phi-3: control tokens with parse_special; the model's added tokens eat the
 * whitespace after them (llama.cpp's rstrip), and the text after a special
 * token gets its own "▁" prefix. */
static void test_parse_special_phi3(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "vocab/ggml-vocab-phi-3.gguf");
    struct eng_vocab *v = open_vocab(path);
    const char *s = "<|user|>\nHi there<|end|>\n<|assistant|>\n";
    size_t n, nh;
    int32_t *ids = tokenize(v, s, strlen(s), ENG_TOK_PARSE_SPECIAL | ENG_TOK_ADD_BOS, &n);
    int32_t *hi = tokenize(v, "Hi there", 8, 0, &nh);
    assert_int_equal(n, nh + 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 32010);
    assert_memory_equal(ids + 2, hi, nh * sizeof *hi);
    assert_int_equal(ids[n - 2], 32007);
    assert_int_equal(ids[n - 1], 32001);
    assert_true(eng_vocab_is_eog(v, 32007)); /* <|end|> */
    assert_true(eng_vocab_is_eog(v, 32000)); /* eos <|endoftext|> */
    assert_false(eng_vocab_is_eog(v, 32010));
    assert_int_equal(eng_vocab_chat_family(v), ENG_CHAT_PHI3);
    assert_non_null(tok_vocab_chat_template(v));
    free(ids);
    free(hi);
    eng_vocab_free(v);
}

/* MPT's runs of spaces are user-defined tokens: matched even without
 * parse_special (the vectors cover the ids; here the round trip). */
static void test_user_defined_always(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "vocab/ggml-vocab-mpt.gguf");
    struct eng_vocab *v = open_vocab(path);
    const char *s = "a          b"; /* ten spaces */
    size_t n, dl;
    int32_t *ids = tokenize(v, s, strlen(s), 0, &n);
    int32_t ten = -1;
    for (size_t i = 0; i < n; i++)
        ten = strcmp(eng_vocab_text(v, ids[i]), "          ") == 0 ? ids[i] : ten;
    assert_int_equal(n, 3);
    assert_int_equal(ten, 50268); /* "a", ten spaces, "b" */
    char *d = detokenize(v, ids, n, false, &dl);
    assert_string_equal(d, s);
    free(d);
    free(ids);
    eng_vocab_free(v);
}

/* ---- pieces, edge inputs ---- */

static void test_pieces_spm(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "vocab/ggml-vocab-llama-spm.gguf");
    struct eng_vocab *v = open_vocab(path);
    char p[16];
    assert_int_equal(eng_token_piece(v, 3 + 0x41, p, sizeof p, 0), 1); /* <0x41> */
    assert_int_equal(p[0], 'A');
    assert_int_equal(eng_token_piece(v, 1, p, sizeof p, 0), 0);
    assert_int_equal(eng_token_piece(v, 1, p, sizeof p, ENG_PIECE_SPECIAL), 3);
    assert_int_equal(eng_token_piece(v, 0, p, sizeof p, 0), 0); /* <unk> */
    int32_t hello = -1;
    for (int32_t i = 0; i < eng_vocab_size(v) && hello < 0; i++)
        hello = strcmp(eng_vocab_text(v, i), "\xE2\x96\x81Hello") == 0 ? i : -1;
    assert_true(hello > 0);
    assert_int_equal(eng_token_piece(v, hello, p, sizeof p, 0), 6);
    assert_memory_equal(p, " Hello", 6);
    assert_int_equal(eng_token_piece(v, hello, p, 2, 0), 6); /* truncated, full length */
    assert_int_equal(eng_token_piece(v, -1, p, sizeof p, 0), FIEF_EINVAL);
    assert_int_equal(eng_token_piece(v, 32000, p, sizeof p, 0), FIEF_EINVAL);
    int32_t bad = 32000;
    struct buf b;
    buf_init(&b);
    assert_int_equal(eng_detokenize(v, &bad, 1, false, &b), FIEF_EINVAL);
    buf_deinit(&b);
    eng_vocab_free(v);
}

static void test_empty_and_limits(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "vocab/ggml-vocab-llama-spm.gguf");
    struct eng_vocab *v = open_vocab(path);
    int32_t ids[4];
    size_t n = 99;
    assert_int_equal(eng_tokenize(v, "", 0, 0, ids, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(eng_tokenize(v, NULL, 0, ENG_TOK_ADD_BOS, ids, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    /* A short buffer gets the first ids and the full count. */
    assert_int_equal(eng_tokenize(v, "Hello world again", 17, ENG_TOK_ADD_BOS, ids, 2, &n), 0);
    assert_true(n > 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(eng_tokenize(v, "x", ENG_TOK_MAX_TEXT + 1, 0, ids, 4, &n), FIEF_ELIMIT);
    assert_int_equal(eng_tokenize(v, NULL, 3, 0, ids, 4, &n), FIEF_EINVAL);
    assert_int_equal(eng_tokenize(v, "x", 1, 0, ids, 4, NULL), FIEF_EINVAL);
    eng_vocab_free(v);
}

/* What a vocab gives back for s: itself, except that bytes the vocab has no
 * token for (StarCoder lacks C0, C1, F1, F5..FF) come back as U+FFFD. */
static size_t expect_back(const struct eng_vocab *v, const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (v->byte_tok[(uint8_t)s[i]] >= 0) {
            out[o++] = s[i];
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
    }
    return o;
}

/* Invalid UTF-8 is kept byte for byte wherever the vocab can say the byte. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "\xff\xfe\xfd",
        "abc\xc3",
        "\xc3(",
        "\xe2\x82 x",
        "\xed\xa0\x80 surrogate",
        "\xf4\x90\x80\x80 too big",
        "\xc0\xaf overlong",
        "\x80\x80 \xbf",
        "ok \xf0\x9f\x98",
        "tab\t\x01\x7f controls",
        "\xf1\x80\x80\x80 plane 4",
    };
    const char *names[] = {"vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-llama-spm.gguf",
                           "vocab/ggml-vocab-starcoder.gguf"};
    for (size_t f = 0; f < 3; f++) {
        const char *path = tu_model_path(names[f]);
        if (!path)
            skip();
        struct eng_vocab *v = open_vocab(path);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            size_t n, dl, len = strlen(cases[i]);
            char want[128];
            size_t wl = expect_back(v, cases[i], len, want);
            assert_true(f == 2 || wl == len);
            int32_t *ids = tokenize(v, cases[i], len, 0, &n);
            char *d = detokenize(v, ids, n, true, &dl);
            assert_int_equal(dl, wl);
            assert_memory_equal(d, want, wl);
            free(d);
            free(ids);
        }
        eng_vocab_free(v);
    }
}

/* Deterministic mixed text: words, digits, punctuation, UTF-8, newlines. */
static char *make_text(size_t len)
{
    static const char *const words[] = {"the ",
                                        "quick ",
                                        "brown ",
                                        "fox ",
                                        "jumps, ",
                                        "1234 ",
                                        "\xc3\xa9t\xc3\xa9 ",
                                        "\xe4\xb8\xad\xe6\x96\x87 ",
                                        "\n\n",
                                        "don't ",
                                        "(x+y) ",
                                        "    indent "};
    char *s = malloc(len + 1);
    uint64_t rng = 42;
    size_t o = 0;
    while (o < len) {
        const char *w = words[tu_rand(&rng) % (sizeof words / sizeof words[0])];
        size_t wl = strlen(w);
        if (o + wl > len)
            wl = len - o;
        memcpy(s + o, w, wl);
        o += wl;
    }
    s[len] = '\0';
    return s;
}

/* 1 MB of text tokenizes in well under a second per vocab (a few under
 * sanitizers); the MB/s figures are printed. Also a 1 MB run of one letter,
 * the worst case for merging (one huge word / one huge SPM sequence). */
static void test_large_input(void **state)
{
    (void)state;
    const char *names[] = {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf"};
    size_t len = 1 << 20;
    char *text = make_text(len), *same = malloc(len);
    memset(same, 'a', len);
    for (size_t f = 0; f < 2; f++) {
        const char *path = tu_model_path(names[f]);
        if (!path)
            skip();
        struct eng_vocab *v = open_vocab(path);
        for (int k = 0; k < 2; k++) {
            const char *s = k ? same : text;
            double t0 = now_s();
            size_t n, dl;
            int32_t *ids = tokenize(v, s, len, 0, &n);
            double dt = now_s() - t0;
            fprintf(stderr, "%s, %s: %zu tokens in %.3f s (%.1f MB/s)\n", names[f],
                    k ? "1 MB of 'a'" : "1 MB of text", n, dt, len / dt / 1e6);
            assert_true(dt < 10.0);
            char *d = detokenize(v, ids, n, true, &dl);
            assert_int_equal(dl, len);
            assert_memory_equal(d, s, len);
            free(d);
            free(ids);
        }
        eng_vocab_free(v);
    }
    free(text);
    free(same);
}

/* ---- pre-tokenizer splits (hand-checked against the regexes) ---- */

static void check_split(enum tok_pre_kind kind, const char *s, const char *const *want,
                        size_t n_want)
{
    struct tok_pre_iter it;
    size_t a, b, k = 0;
    tok_pre_init(&it, kind, s, strlen(s));
    while (tok_pre_next(&it, &a, &b)) {
        if (k >= n_want || strlen(want[k]) != b - a || memcmp(want[k], s + a, b - a) != 0)
            fprintf(stderr, "split of \"%s\": word %zu is \"%.*s\"\n", s, k, (int)(b - a), s + a);
        assert_true(k < n_want);
        assert_int_equal(b - a, strlen(want[k]));
        assert_memory_equal(s + a, want[k], b - a);
        k++;
    }
    assert_int_equal(k, n_want);
}

#define SPLIT(kind, s, ...)                                                                        \
    do {                                                                                           \
        static const char *const w_[] = {__VA_ARGS__};                                             \
        check_split(kind, s, w_, sizeof w_ / sizeof w_[0]);                                        \
    } while (0)

static void test_split_llama3(void **state)
{
    (void)state;
    enum tok_pre_kind k = TOK_PRE_LLAMA3;
    SPLIT(k, "Hello world", "Hello", " world");
    SPLIT(k, "I'M here, don't", "I", "'M", " here", ",", " don", "'t");
    SPLIT(k, "12345 678", "123", "45", " ", "678");
    SPLIT(k, "3.14", "3", ".", "14");
    SPLIT(k, "hello\n\nworld", "hello", "\n\n", "world");
    SPLIT(k, "  hi", " ", " hi");
    SPLIT(k, "a...b", "a", "...", "b");
    SPLIT(k, "!!\n\nx", "!!\n\n", "x");
    SPLIT(k, "x  \n y", "x", "  \n", " y");
    SPLIT(k, "\t\tfoo", "\t", "\tfoo");
    SPLIT(k, "$hello", "$hello");
    SPLIT(k, "end   ", "end", "   ");
    SPLIT(k, "\xd0\x9f\xd1\x80\xd0\xb8 \xd0\xbc\xd0\xb8\xd1\x80", "\xd0\x9f\xd1\x80\xd0\xb8",
          " \xd0\xbc\xd0\xb8\xd1\x80");
    /* Invalid bytes act like U+FFFD, a symbol: one may lead a word, two may not. */
    SPLIT(k,
          "\xff"
          "ab",
          "\xff"
          "ab");
    SPLIT(k,
          "\xff\xfe"
          "ab",
          "\xff\xfe", "ab");
}

static void test_split_qwen2(void **state)
{
    (void)state;
    enum tok_pre_kind k = TOK_PRE_QWEN2;
    SPLIT(k, "12345", "1", "2", "3", "4", "5");
    SPLIT(k, "x=42;\n", "x", "=", "4", "2", ";\n");
    SPLIT(k, "We'LL see", "We", "'LL", " see");
    SPLIT(k, " \r\n\r\nok", " \r\n\r\n", "ok");
}

static void test_split_gpt2(void **state)
{
    (void)state;
    SPLIT(TOK_PRE_GPT2, "I'M here", "I", "'", "M", " here"); /* case-sensitive */
    SPLIT(TOK_PRE_GPT2, "   Hello", "  ", " Hello");
    SPLIT(TOK_PRE_GPT2, "x 123abc", "x", " 123", "abc");
    SPLIT(TOK_PRE_GPT2, "a\n\n b", "a", "\n\n", " b");
    SPLIT(TOK_PRE_STARCODER, "x 123", "x", " ", "1", "2", "3");
    SPLIT(TOK_PRE_STARCODER, "  1", "  ", "1");
}

/* ---- malformed vocabularies, built with the GGUF writer ---- */

enum mutation { M_NONE, M_MODEL, M_TYPES_SHORT, M_TYPE_BAD, M_LONG_TOKEN, M_BYTE_BAD, M_NO_TOKENS };

static int load_synthetic(enum mutation m, struct eng_vocab **v, char err[FIEF_ERR_LEN])
{
    static char big[TOK_MAX_TOKEN_BYTES + 2];
    memset(big, 'x', sizeof big - 1);
    const char *toks[] = {"<unk>",
                          "<s>",
                          "</s>",
                          "<0x41>",
                          "\xE2\x96\x81",
                          "a",
                          "b",
                          "ab",
                          m == M_LONG_TOKEN ? big
                                            : "\xE2\x96\x81"
                                              "ab"};
    int32_t types[] = {2, 3, 3, 6, 1, 1, 1, 1, m == M_TYPE_BAD ? 9 : 1};
    float scores[] = {0, 0, 0, 0, -1, -2, -2, -1, -0.5f};
    if (m == M_BYTE_BAD)
        types[5] = 6;
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.model", m == M_MODEL ? "bert" : "llama");
    if (m != M_NO_TOKENS)
        gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", toks, 9);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types,
                        m == M_TYPES_SHORT ? 8 : 9);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 9);
    char path[512];
    snprintf(path, sizeof path, "%s/vocab%d.gguf", tu_tmpdir(), (int)m);
    assert_int_equal(gguf_writer_save(w, path, err), 0);
    gguf_writer_free(w);
    return eng_vocab_open(path, v, err);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        enum mutation m;
        int rc;
        const char *says;
    } cases[] = {
        {M_MODEL, FIEF_EUNSUPPORTED, "bert"},     {M_TYPES_SHORT, FIEF_EFORMAT, "token_type"},
        {M_TYPE_BAD, FIEF_EFORMAT, "token_type"}, {M_LONG_TOKEN, FIEF_ELIMIT, "tokens[8]"},
        {M_BYTE_BAD, FIEF_EFORMAT, "byte token"}, {M_NO_TOKENS, FIEF_EFORMAT, "missing"},
    };
    struct eng_vocab *v = NULL;
    char err[FIEF_ERR_LEN];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_int_equal(load_synthetic(cases[i].m, &v, err), cases[i].rc);
        assert_null(v);
        if (!strstr(err, cases[i].says))
            fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, cases[i].says);
        assert_non_null(strstr(err, cases[i].says));
    }
    /* The good one: "ab" beats "a"+"b"; "▁ab" (-0.5) is the best merge. */
    assert_int_equal(load_synthetic(M_NONE, &v, err), 0);
    size_t n;
    int32_t *ids = tokenize(v, "ab A", 4, 0, &n);
    const int32_t want[] = {8, 4, 3}; /* ▁ab ▁ <0x41> */
    assert_int_equal(n, 3);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    eng_vocab_free(v);
}

/* ---- unicode helpers ---- */

static void test_unicode(void **state)
{
    (void)state;
    uint32_t cp;
    char buf[4];
    assert_int_equal(uni_decode("\xe2\x82\xac", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(uni_decode("\xe2\x82", 2, &cp), 1);
    assert_int_equal(cp, UNI_REPLACEMENT);
    assert_int_equal(uni_decode("\xc0\x80", 2, &cp), 1); /* overlong */
    assert_int_equal(uni_encode(0x1F680, buf), 4);
    assert_memory_equal(buf, "\xf0\x9f\x9a\x80", 4);
    assert_true(uni_flags('a') & UNI_LETTER);
    assert_true(uni_flags(0x0661) & UNI_NUMBER); /* ARABIC-INDIC ONE */
    assert_true(uni_flags(0x3000) & UNI_SPACE);
    assert_true(uni_flags(0x00A0) & UNI_SPACE);
    assert_false(uni_flags(0x200B) & UNI_SPACE); /* ZERO WIDTH SPACE is Cf */
    assert_true(uni_flags(0x4E2D) & UNI_LETTER);
    assert_int_equal(uni_flags(0x10FFFF), 0);
    for (int b = 0; b < 256; b++)
        assert_int_equal(tok_bpe_cp_byte(tok_bpe_byte_cp((uint8_t)b)), b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_split_gpt2),
        cmocka_unit_test(test_split_llama3),
        cmocka_unit_test(test_split_qwen2),
        cmocka_unit_test(test_vectors_llama_spm),
        cmocka_unit_test(test_vectors_phi3),
        cmocka_unit_test(test_vectors_gpt2),
        cmocka_unit_test(test_vectors_mpt),
        cmocka_unit_test(test_vectors_starcoder),
        cmocka_unit_test(test_vectors_refact),
        cmocka_unit_test(test_stories_bos),
        cmocka_unit_test(test_parse_special_bpe),
        cmocka_unit_test(test_parse_special_phi3),
        cmocka_unit_test(test_user_defined_always),
        cmocka_unit_test(test_pieces_spm),
        cmocka_unit_test(test_empty_and_limits),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_large_input),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
