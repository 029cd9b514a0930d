/* SPDX-License-Identifier: MIT */
/* fief's built-in inference engine: the public API.
 *
 * What it is: a CPU engine for llama-family GGUF models (llama, mistral,
 * qwen2) in F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K; their SentencePiece or
 * byte-level BPE tokenizer; chat templates; a seeded sampler whose every choice
 * is a pure function of (seed, position, distribution); teacher-forced scoring.
 *
 * Objects and ownership (every _new or _load has its _free; _free(NULL) is a
 * no-op; the caller owns what it created):
 *   eng_vocab    a tokenizer + chat template. Either loaded alone from a GGUF
 *                (eng_vocab_open: the pool does this, weights are never read)
 *                or borrowed from a model (eng_model_vocab).
 *   eng_model    mmap'd weights + hyper-parameters + vocab. Read-only after
 *                load: many contexts on many threads may share one model.
 *   eng_threads  a pool of worker threads; a context runs its matrix products
 *                on it. One forward pass at a time per pool (calls serialise).
 *   eng_ctx      one sequence: KV cache and scratch, allocated once; decode
 *                allocates nothing. A context is used by one thread at a time.
 *   eng_sampler  scratch for sampling over a vocabulary.
 *
 * Errors: functions return 0 or a negative FIEF_E* code (common/err.h) and,
 * where they take one, fill err[FIEF_ERR_LEN] with a message for the user.
 * The engine never exits or aborts on bad input. */
#ifndef FIEF_ENGINE_H
#define FIEF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* ---- tokenizer ---------------------------------------------------------- */

struct eng_vocab;

enum eng_vocab_kind { ENG_VOCAB_SPM = 1, ENG_VOCAB_BPE = 2 };

/* Load only the tokenizer and chat template of a GGUF file (tensors are not
 * touched). Returns 0, or FIEF_EIO/EFORMAT/EUNSUPPORTED with err set. */
int eng_vocab_open(const char *path, struct eng_vocab **out, char err[FIEF_ERR_LEN]);
void eng_vocab_free(struct eng_vocab *v);

enum eng_vocab_kind eng_vocab_kind(const struct eng_vocab *v);
int32_t eng_vocab_size(const struct eng_vocab *v);
int32_t eng_vocab_bos(const struct eng_vocab *v); /* -1 when the model has none */
int32_t eng_vocab_eos(const struct eng_vocab *v); /* -1 when the model has none */
/* End of generation: eos, or an end-of-turn token (<|eot_id|>, <|im_end|>, ...). */
bool eng_vocab_is_eog(const struct eng_vocab *v, int32_t id);
/* Whether prompts start with BOS (tokenizer.ggml.add_bos_token, else the
 * tokenizer's usual default). */
bool eng_vocab_adds_bos(const struct eng_vocab *v);
/* Raw vocabulary string of a token (NUL-terminated; valid while v lives), or
 * NULL when id is out of range. */
const char *eng_vocab_text(const struct eng_vocab *v, int32_t id);
/* Name of the BPE pre-tokenizer in use ("gpt2", "llama3", ...) or "spm". */
const char *eng_vocab_pre(const struct eng_vocab *v);

enum {
    ENG_TOK_ADD_BOS = 1,       /* prepend BOS if the model has one */
    ENG_TOK_PARSE_SPECIAL = 2, /* "<|im_start|>" etc. in text become their ids */
};

/* Maximum text bytes eng_tokenize accepts in one call. */
#define ENG_TOK_MAX_TEXT (16u << 20)

/* Tokenize len bytes of UTF-8 text (invalid UTF-8 bytes are kept as bytes).
 * Writes up to cap ids to out and sets *n_out to the total count, which may
 * exceed cap (call again with a larger buffer). Returns 0, or FIEF_ELIMIT
 * (text longer than ENG_TOK_MAX_TEXT), FIEF_ENOMEM. */
int eng_tokenize(const struct eng_vocab *v, const char *text, size_t len, int flags,
                 int32_t *out, size_t cap, size_t *n_out);

enum {
    ENG_PIECE_SPECIAL = 1, /* render control tokens (BOS, <|im_end|>) as their text */
};

/* Bytes a token contributes to the output text (SPM: "▁" becomes a space and
 * <0xAB> a raw byte; BPE: byte-level decoding). Control tokens render empty
 * unless ENG_PIECE_SPECIAL. A piece may be part of a UTF-8 sequence: join
 * pieces before treating them as text. Returns the piece's length (which may
 * be > cap: nothing is written past cap), or FIEF_EINVAL for a bad id. */
int eng_token_piece(const struct eng_vocab *v, int32_t id, char *buf, size_t cap, int flags);

/* Detokenize ids into out (appended). SPM: the leading space that the
 * tokenizer added before the first word is removed when strip_leading is set. */
int eng_detokenize(const struct eng_vocab *v, const int32_t *ids, size_t n, bool strip_leading,
                   struct buf *out);

/* ---- chat templates ----------------------------------------------------- */

/* Prompt formats. Each renders the way the named models' own Jinja template
 * does; docs/chat-templates.md shows every one and how it was checked. */
enum eng_chat_family {
    ENG_CHAT_PLAIN = 0,  /* fallback: "System: ..\n", "User: ..\n", then "Assistant:" */
    ENG_CHAT_CHATML,     /* <|im_start|>role\n...<|im_end|>\n (Qwen, SmolLM, Hermes) */
    ENG_CHAT_LLAMA2,     /* [INST] <<SYS>>\n..\n<</SYS>>\n\n.. [/INST] .. </s><s>[INST] */
    ENG_CHAT_LLAMA3,     /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    ENG_CHAT_MISTRAL,    /* [INST] .. [/INST]..</s> (7B v0.1/v0.2, Mixtral 8x7B as released) */
    ENG_CHAT_GEMMA,      /* <start_of_turn>user|model\n...<end_of_turn>\n */
    ENG_CHAT_PHI3,       /* <|user|>\n...<|end|>\n<|assistant|>\n */
    ENG_CHAT_ZEPHYR,     /* <|user|>\n...</s>\n<|assistant|>\n (Zephyr, TinyLlama) */
    ENG_CHAT_LLAMA31,    /* Llama 3 plus the 3.1/3.2/3.3 system header (knowledge date) */
    ENG_CHAT_MISTRAL_V1, /* " [INST] .. [/INST] ..</s>" (updated v0.1/v0.2/Mixtral) */
    ENG_CHAT_MISTRAL_V3, /* "[INST] ..[/INST] ..</s>", system on the last user turn (v0.3) */
    ENG_CHAT_MISTRAL_V3_TEKKEN, /* "[INST]..[/INST]..</s>" (Nemo) */
    ENG_CHAT_MISTRAL_V7, /* [SYSTEM_PROMPT] ..[/SYSTEM_PROMPT][INST] ..[/INST] ..</s> */
    ENG_CHAT_MISTRAL_V7_TEKKEN, /* the same without the spaces (Small 3.x) */
    ENG_CHAT_PHI4,       /* <|im_start|>role<|im_sep|>...<|im_end|> */
    ENG_CHAT_COMMAND_R,  /* <|START_OF_TURN_TOKEN|><|USER_TOKEN|>..<|END_OF_TURN_TOKEN|> */
    ENG_CHAT_COUNT
};

struct eng_chat_msg {
    const char *role;    /* "system", "user", "assistant" (others rejected) */
    const char *content; /* UTF-8 text */
};

/* Which family a Jinja chat template (tokenizer.chat_template) belongs to,
 * recognised by its distinctive markers; NULL, empty or unknown gives
 * ENG_CHAT_PLAIN. Pure function of the text. */
enum eng_chat_family eng_chat_detect(const char *tmpl);
/* Short name ("chatml", "llama3.1", "mistral-v3", ...); "unknown" when out of
 * range. Static storage. */
const char *eng_chat_family_name(enum eng_chat_family f);
/* Parse a family name as eng_chat_family_name gives it (case-insensitive);
 * -1 when unknown or NULL. */
int eng_chat_family_parse(const char *name);
/* The family the vocab's own template belongs to. */
enum eng_chat_family eng_vocab_chat_family(const struct eng_vocab *v);

/* Render messages into a prompt (appended to out) in family f, ending with the
 * assistant's turn header when add_assistant is set (families whose user turn
 * already ends with it, the [INST] ones and Phi-4, add nothing; Phi-3 adds its
 * eos text "<|endoftext|>" when add_assistant is off, as its template does).
 * The text does not start with BOS but holds the other special-token texts the
 * template writes (e.g. "<s>" between Llama 2 turns): tokenize it with
 * ENG_TOK_ADD_BOS | ENG_TOK_PARSE_SPECIAL. Model-specific default system
 * prompts (Qwen's, Mistral Small's) are not added. Returns 0, or FIEF_EINVAL
 * (unknown family or role, a NULL role or content, no messages) with err set
 * and out unchanged. Thread-safe; allocates only through out. */
int eng_chat_apply(enum eng_chat_family f, const struct eng_chat_msg *msgs, size_t n,
                   bool add_assistant, struct buf *out, char err[FIEF_ERR_LEN]);

/* ---- model -------------------------------------------------------------- */

struct eng_model;

struct eng_model_info {
    char arch[32];            /* "llama", "mistral", "qwen2" */
    char name[128];           /* general.name, or "" */
    int32_t n_vocab;
    int32_t n_ctx_train;      /* context length the model was trained for */
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t n_ff;
    uint64_t n_params;        /* elements in all tensors */
    uint64_t weight_bytes;    /* bytes of all tensors (read once per token) */
    uint64_t decode_bytes;    /* bytes read per decoded token (all but the embedding table) */
    const char *ftype;        /* dominant matrix type name, e.g. "q8_0" */
};

/* Load a GGUF model (mmap; weights are not copied). Returns 0, or FIEF_EIO,
 * FIEF_EFORMAT (malformed file, missing tensor, wrong shape),
 * FIEF_EUNSUPPORTED (architecture or tensor type), FIEF_ENOMEM; err says which
 * tensor or key is at fault. */
int eng_model_load(const char *path, struct eng_model **out, char err[FIEF_ERR_LEN]);
void eng_model_free(struct eng_model *m);
void eng_model_get_info(const struct eng_model *m, struct eng_model_info *out);
/* Borrowed; valid while m lives. */
const struct eng_vocab *eng_model_vocab(const struct eng_model *m);

/* ---- threads ------------------------------------------------------------ */

struct eng_threads;

/* n >= 1 threads in all (the caller's thread counts as one). NULL on failure. */
struct eng_threads *eng_threads_new(int n);
void eng_threads_free(struct eng_threads *t);
int eng_threads_count(const struct eng_threads *t);

/* ---- context: one sequence ---------------------------------------------- */

struct eng_ctx;

/* A context of n_ctx positions (0: the model's training context, capped at
 * ENG_MAX_CTX) running on threads t (borrowed; must outlive the context).
 * Returns 0, FIEF_EINVAL, FIEF_ENOMEM (KV cache too large) with err set. */
#define ENG_MAX_CTX 32768
int eng_ctx_new(const struct eng_model *m, int32_t n_ctx, struct eng_threads *t,
                struct eng_ctx **out, char err[FIEF_ERR_LEN]);
void eng_ctx_free(struct eng_ctx *c);
int32_t eng_ctx_size(const struct eng_ctx *c);
/* Tokens already in the KV cache. */
int32_t eng_ctx_pos(const struct eng_ctx *c);
/* Forget the sequence from position pos on (0 clears it). */
void eng_ctx_truncate(struct eng_ctx *c, int32_t pos);

/* Run tokens[0..n) at the next positions, batched. When logits is non-NULL it
 * receives the n_vocab logits that follow the last token. Returns 0, or
 * FIEF_ELIMIT (context full), FIEF_EINVAL (token id out of range). */
int eng_decode(struct eng_ctx *c, const int32_t *tokens, size_t n, float *logits);

/* ---- sampling ----------------------------------------------------------- */

#define ENG_MAX_TOP 20 /* most alternatives reported per token */

struct eng_sampling {
    float temperature;    /* <= 0: greedy (argmax, ties to the lowest id) */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n; /* window of history the penalty looks at */
    uint64_t seed;
};

/* Defaults: greedy, no filters, penalty off, seed 0. */
void eng_sampling_defaults(struct eng_sampling *s);

struct eng_top {
    int32_t id;
    float logprob;
};

struct eng_pick {
    int32_t id;        /* the chosen token */
    float logprob;     /* its log-probability under the model (temperature 1,
                          before any filter or penalty) */
    int32_t n_top;     /* alternatives filled in top[] */
    struct eng_top top[ENG_MAX_TOP]; /* most likely tokens, same measure, best first */
};

struct eng_sampler;
struct eng_sampler *eng_sampler_new(int32_t n_vocab);
void eng_sampler_free(struct eng_sampler *s);

/* Choose the token at sequence position pos from logits. The choice is a pure
 * function of (params, pos, logits, history): two machines holding the same
 * distribution pick the same token. history (may be NULL) holds the tokens
 * before pos, used only by the repetition penalty. n_top (0..ENG_MAX_TOP)
 * alternatives are reported. A temperature so small that its inverse
 * overflows a float acts as greedy. Returns 0 or FIEF_EINVAL (NaN params, a
 * penalty that is not positive and finite, logits that are not finite). */
int eng_sample(struct eng_sampler *s, const struct eng_sampling *p, const float *logits,
               uint32_t pos, const int32_t *history, size_t n_hist, int n_top,
               struct eng_pick *out);

/* The uniform draw in [0,1) the sampler uses for (seed, pos). */
double eng_sample_uniform(uint64_t seed, uint32_t pos);

/* ---- teacher-forced scoring --------------------------------------------- */

struct eng_score_tok {
    float logprob;     /* log-probability of the given token */
    int32_t top_id;    /* the model's most likely token at this position */
    float top_logprob; /* its log-probability */
    int32_t pick;      /* the token the sampler picks here (top_id without params) */
    float margin;      /* how far the given token is from being picked, >= 0: see eng_score */
    float pick_logprob; /* the log-probability of pick (as logprob: temperature 1, no filter) */
};

/* Score completion[0..nc) after prompt[0..np) in one batched pass: out[i]
 * describes completion[i], the token at sequence position np + i. Log-probs
 * are the generator's own, bit for bit (same forward path and arithmetic).
 *
 * With sampling params p (NULL: greedy without penalty), out[i].pick is the
 * token eng_generate with p would pick at that position from the same logits
 * (bit for bit: the same code), the repetition penalty looking at prompt +
 * completion[0..i), and out[i].margin says how far completion[i] is from
 * being picked:
 *   greedy (temperature <= 0): the logit gap, after the penalty, between the
 *     pick and completion[i]: 0 for the pick and for a token tied with it.
 *   sampled: the distance in probability mass between the draw
 *     u = eng_sample_uniform(p->seed, np + i) and completion[i]'s interval
 *     [lo, hi) among the sorted, filtered candidates, normalised to sum 1.
 *     0 exactly when completion[i] is the pick (a u right on hi belongs to
 *     the next candidate and gives the smallest positive float), < 1 for any
 *     other candidate, and 1 when completion[i] is not a candidate at all
 *     (cut by top-k, top-p, min-p, or too unlikely to be one).
 * Margins are finite (an overflowed gap reads as FLT_MAX).
 *
 * s is the sampler scratch p needs (made for this model's vocabulary; with p
 * NULL it may be NULL); nothing is allocated per position. The sampler runs
 * on the calling thread between batches. The context is cleared first and
 * left holding the sequence. np >= 1. Returns 0, FIEF_ELIMIT (too long for
 * the context), FIEF_EINVAL (bad id, empty prompt, p without a matching s,
 * NaN params, logits that are not finite), FIEF_ENOMEM. */
int eng_score(struct eng_ctx *c, struct eng_sampler *s, const struct eng_sampling *p,
              const int32_t *prompt, size_t np, const int32_t *completion, size_t nc,
              struct eng_score_tok *out);

/* ---- generation helper -------------------------------------------------- */

/* Called for each generated token; return non-zero to stop. */
typedef int (*eng_token_cb)(void *ud, const struct eng_pick *pick);

struct eng_gen_stats {
    int32_t n_prompt, n_gen;
    double prompt_s, gen_s; /* wall seconds in prefill and in decode */
};

/* Clear c, prefill prompt, then sample up to max_tokens tokens, calling cb on
 * each; stops at end-of-generation tokens (reported to cb too), when cb says
 * so, or at the context end. Sampling positions are absolute sequence
 * positions, so a job continued elsewhere with the delivered tokens appended
 * to its prompt picks the same tokens. */
int eng_generate(struct eng_ctx *c, struct eng_sampler *s, const struct eng_sampling *p,
                 const int32_t *prompt, size_t np, int32_t max_tokens, int n_top,
                 eng_token_cb cb, void *ud, struct eng_gen_stats *stats);

#endif
