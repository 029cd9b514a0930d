/* SPDX-License-Identifier: MIT */
/* Chat templates without a Jinja engine: recognise a model's
 * tokenizer.chat_template by its distinctive markers, then render messages the
 * way that template does. Every family is one row of a table of per-role
 * affixes, whitespace rules and system-message conventions read by a single
 * renderer. docs/chat-templates.md shows each family's output. */
#include "engine/engine.h"

#include <string.h>
#include <strings.h>

/* ---- the family table --------------------------------------------------- */

enum role { R_SYS, R_USER, R_ASST, R_COUNT };

/* Where a family puts system text. Templates without a system role get it
 * folded into a user message, as the model makers' own templates do (Gemma 3,
 * Mistral's), rather than dropped or raised as an error. */
enum sys_mode {
    SYS_TURN,       /* a turn of its own, in place */
    SYS_FOLD_FIRST, /* prefixed to the next user message */
    SYS_FOLD_LAST,  /* prefixed to the last user message (Mistral v3 templates) */
    SYS_PREAMBLE,   /* a system turn always opens the prompt; a leading system
                       message completes it (Llama 3.1+); later ones are turns */
};

struct family {
    const char *name;
    const char *pre[R_COUNT]; /* text before a message's content, by role */
    const char *suf[R_COUNT]; /* text after it */
    unsigned trim;            /* bit (1u << role): strip the content like Jinja's trim */
    const char *gen;          /* assistant header appended for add_assistant */
    const char *end;          /* appended instead when add_assistant is off */
    const char *bos;          /* BOS text the template writes before every user turn;
                                 left out at the very start, where the tokenizer adds it */
    enum sys_mode sys;
    const char *fold_pre, *fold_sep; /* folded text: fold_pre + system + fold_sep + content */
    bool trim_folded;                /* the strip applies to the folded text as a whole */
    const char *preamble;            /* SYS_PREAMBLE: opens the system turn */
    bool skip_empty_sys;             /* an empty system message emits nothing (Phi-3.5) */
};

#define T_SYS (1u << R_SYS)
#define T_USER (1u << R_USER)
#define T_ASST (1u << R_ASST)
#define T_ALL (T_SYS | T_USER | T_ASST)

/* Each row mirrors the real template named in its comment; the unit tests
 * hold those templates and renderings of them by Jinja2. (Laid out by hand:
 * clang-format would flatten the rows.) */
/* clang-format off */
static const struct family fams[ENG_CHAT_COUNT] = {
    /* Our own format for models without a template: see docs/chat-templates.md. */
    [ENG_CHAT_PLAIN] = {
        .name = "plain",
        .pre = {"System: ", "User: ", "Assistant: "},
        .suf = {"\n", "\n", "\n"},
        .gen = "Assistant:",
    },
    /* teknium/OpenHermes-2.5, Qwen2-Instruct (less its default system turn). */
    [ENG_CHAT_CHATML] = {
        .name = "chatml",
        .pre = {"<|im_start|>system\n", "<|im_start|>user\n", "<|im_start|>assistant\n"},
        .suf = {"<|im_end|>\n", "<|im_end|>\n", "<|im_end|>\n"},
        .gen = "<|im_start|>assistant\n",
    },
    /* meta-llama/Llama-2-7b-chat-hf: the <<SYS>> block joins the first user
     * message and content.strip() is applied to the joined text. */
    [ENG_CHAT_LLAMA2] = {
        .name = "llama2",
        .pre = {NULL, "[INST] ", " "},
        .suf = {NULL, " [/INST]", " </s>"},
        .trim = T_USER | T_ASST,
        .bos = "<s>",
        .sys = SYS_FOLD_FIRST,
        .fold_pre = "<<SYS>>\n",
        .fold_sep = "\n<</SYS>>\n\n",
        .trim_folded = true,
    },
    /* meta-llama/Meta-Llama-3-8B-Instruct. */
    [ENG_CHAT_LLAMA3] = {
        .name = "llama3",
        .pre = {"<|start_header_id|>system<|end_header_id|>\n\n",
                "<|start_header_id|>user<|end_header_id|>\n\n",
                "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        .suf = {"<|eot_id|>", "<|eot_id|>", "<|eot_id|>"},
        .trim = T_ALL,
        .gen = "<|start_header_id|>assistant<|end_header_id|>\n\n",
    },
    /* mistralai/Mistral-7B-Instruct-v0.2 and Mixtral-8x7B-Instruct-v0.1 as
     * released; they reject system messages, so fold like Mistral's v1. */
    [ENG_CHAT_MISTRAL] = {
        .name = "mistral",
        .pre = {NULL, "[INST] ", ""},
        .suf = {NULL, " [/INST]", "</s>"},
        .sys = SYS_FOLD_FIRST,
        .fold_pre = "",
        .fold_sep = "\n\n",
    },
    /* google/gemma-3-*-it (gemma-2 is the same, less the system prefix). */
    [ENG_CHAT_GEMMA] = {
        .name = "gemma",
        .pre = {NULL, "<start_of_turn>user\n", "<start_of_turn>model\n"},
        .suf = {NULL, "<end_of_turn>\n", "<end_of_turn>\n"},
        .trim = T_USER | T_ASST,
        .gen = "<start_of_turn>model\n",
        .sys = SYS_FOLD_FIRST,
        .fold_pre = "",
        .fold_sep = "\n\n",
    },
    /* microsoft/Phi-3.5-mini-instruct (= Phi-3-mini-4k's updated template). */
    [ENG_CHAT_PHI3] = {
        .name = "phi3",
        .pre = {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
        .suf = {"<|end|>\n", "<|end|>\n", "<|end|>\n"},
        .gen = "<|assistant|>\n",
        .end = "<|endoftext|>",
        .skip_empty_sys = true,
    },
    /* HuggingFaceH4/zephyr-7b-beta, TinyLlama-1.1B-Chat-v1.0. */
    [ENG_CHAT_ZEPHYR] = {
        .name = "zephyr",
        .pre = {"<|system|>\n", "<|user|>\n", "<|assistant|>\n"},
        .suf = {"</s>\n", "</s>\n", "</s>\n"},
        .gen = "<|assistant|>\n",
    },
    /* meta-llama/Llama-3.1/3.2/3.3-Instruct with no tools and no date_string:
     * the template's own default date, so a prompt never depends on the clock. */
    [ENG_CHAT_LLAMA31] = {
        .name = "llama3.1",
        .pre = {"<|start_header_id|>system<|end_header_id|>\n\n",
                "<|start_header_id|>user<|end_header_id|>\n\n",
                "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        .suf = {"<|eot_id|>", "<|eot_id|>", "<|eot_id|>"},
        .trim = T_ALL,
        .gen = "<|start_header_id|>assistant<|end_header_id|>\n\n",
        .sys = SYS_PREAMBLE,
        .preamble = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n",
    },
    /* Mistral's "v1" template (later Mistral-7B-Instruct-v0.1/v0.2, Mixtral). */
    [ENG_CHAT_MISTRAL_V1] = {
        .name = "mistral-v1",
        .pre = {NULL, " [INST] ", " "},
        .suf = {NULL, " [/INST]", "</s>"},
        .sys = SYS_FOLD_FIRST,
        .fold_pre = "",
        .fold_sep = "\n\n",
    },
    /* Mistral's "v3" template (Mistral-7B-Instruct-v0.3, Mixtral-8x22B, Large-2407). */
    [ENG_CHAT_MISTRAL_V3] = {
        .name = "mistral-v3",
        .pre = {NULL, "[INST] ", " "},
        .suf = {NULL, "[/INST]", "</s>"},
        .trim = T_ASST,
        .sys = SYS_FOLD_LAST,
        .fold_pre = "",
        .fold_sep = "\n\n",
    },
    /* Mistral's "v3-tekken" template (Mistral-Nemo-Instruct-2407). */
    [ENG_CHAT_MISTRAL_V3_TEKKEN] = {
        .name = "mistral-v3-tekken",
        .pre = {NULL, "[INST]", ""},
        .suf = {NULL, "[/INST]", "</s>"},
        .sys = SYS_FOLD_LAST,
        .fold_pre = "",
        .fold_sep = "\n\n",
    },
    /* Mistral's "v7" template (Mistral-Large-Instruct-2411). */
    [ENG_CHAT_MISTRAL_V7] = {
        .name = "mistral-v7",
        .pre = {"[SYSTEM_PROMPT] ", "[INST] ", " "},
        .suf = {"[/SYSTEM_PROMPT]", "[/INST]", "</s>"},
    },
    /* Mistral-Small-3.x-Instruct (less its dated default system prompt). */
    [ENG_CHAT_MISTRAL_V7_TEKKEN] = {
        .name = "mistral-v7-tekken",
        .pre = {"[SYSTEM_PROMPT]", "[INST]", ""},
        .suf = {"[/SYSTEM_PROMPT]", "[/INST]", "</s>"},
    },
    /* microsoft/phi-4: the user turn itself ends with the assistant header. */
    [ENG_CHAT_PHI4] = {
        .name = "phi4",
        .pre = {"<|im_start|>system<|im_sep|>", "<|im_start|>user<|im_sep|>", ""},
        .suf = {"<|im_end|>", "<|im_end|><|im_start|>assistant<|im_sep|>", "<|im_end|>"},
    },
    /* CohereForAI/c4ai-command-r(-plus) default template. */
    [ENG_CHAT_COMMAND_R] = {
        .name = "command-r",
        .pre = {"<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>", "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>",
                "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
        .suf = {"<|END_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>"},
        .trim = T_USER | T_ASST,
        .gen = "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
    },
};
/* clang-format on */

const char *eng_chat_family_name(enum eng_chat_family f)
{
    if ((unsigned)f >= ENG_CHAT_COUNT)
        return "unknown";
    return fams[f].name;
}

int eng_chat_family_parse(const char *name)
{
    if (!name)
        return -1;
    for (int f = 0; f < ENG_CHAT_COUNT; f++)
        if (strcasecmp(name, fams[f].name) == 0)
            return f;
    return -1;
}

/* ---- detection ---------------------------------------------------------- */

static bool has(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

/* The [INST] templates differ in the spaces around the tags, which are tokens
 * the model was trained on, so the quoted literals decide the variant. */
static enum eng_chat_family detect_inst(const char *t)
{
    if (has(t, "<<SYS>>"))
        return ENG_CHAT_LLAMA2;
    bool spaced = has(t, "[INST] ");
    if (has(t, "[SYSTEM_PROMPT]"))
        return spaced ? ENG_CHAT_MISTRAL_V7 : ENG_CHAT_MISTRAL_V7_TEKKEN;
    if (!has(t, " [/INST]"))
        return spaced ? ENG_CHAT_MISTRAL_V3 : ENG_CHAT_MISTRAL_V3_TEKKEN;
    return has(t, " [INST]") ? ENG_CHAT_MISTRAL_V1 : ENG_CHAT_MISTRAL;
}

/* Order matters where markers overlap: Phi-4 uses <|im_start|> as ChatML does;
 * Llama 3.1 contains everything Llama 3 does; Phi-3 and Zephyr templates both
 * hold <|user|> and <|assistant|>, and Phi-3.5 also names eos_token. */
enum eng_chat_family eng_chat_detect(const char *t)
{
    if (!t || !*t)
        return ENG_CHAT_PLAIN;
    if (has(t, "<|im_start|>"))
        return has(t, "<|im_sep|>") ? ENG_CHAT_PHI4 : ENG_CHAT_CHATML;
    if (has(t, "<|start_header_id|>"))
        return has(t, "Cutting Knowledge Date") ? ENG_CHAT_LLAMA31 : ENG_CHAT_LLAMA3;
    if (has(t, "<start_of_turn>"))
        return ENG_CHAT_GEMMA;
    if (has(t, "<|START_OF_TURN_TOKEN|>"))
        return ENG_CHAT_COMMAND_R;
    if (has(t, "[INST]"))
        return detect_inst(t);
    if (has(t, "<|assistant|>") && has(t, "<|end|>"))
        return ENG_CHAT_PHI3;
    if (has(t, "<|user|>") && has(t, "<|assistant|>") && (has(t, "eos_token") || has(t, "</s>")))
        return ENG_CHAT_ZEPHYR;
    return ENG_CHAT_PLAIN;
}

/* ---- whitespace --------------------------------------------------------- */

/* Length of the whitespace character that is exactly p[0..n), else 0. The set
 * is Python's str.isspace(), because Jinja's trim and str.strip() are Python's
 * strip(): ASCII \t\n\v\f\r, \x1c-\x1f and space, U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F and U+3000. */
static size_t ws_exact(const unsigned char *p, size_t n)
{
    if (n == 1)
        return ((p[0] >= 0x09 && p[0] <= 0x0d) || (p[0] >= 0x1c && p[0] <= 0x20)) ? 1 : 0;
    if (n == 2)
        return (p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) ? 2 : 0;
    if (n != 3)
        return 0;
    if ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) ||
        (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80))
        return 3;
    if (p[0] != 0xe2)
        return 0;
    if (p[1] == 0x80)
        return (p[2] <= 0x8a && p[2] >= 0x80) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf ? 3
                                                                                              : 0;
    return (p[1] == 0x81 && p[2] == 0x9f) ? 3 : 0;
}

/* Whitespace character at the start (back = false) or end of p[0..n):
 * its length, or 0. UTF-8 is self-synchronising, so trying each length is
 * enough to find a whole character. */
static size_t ws_edge(const unsigned char *p, size_t n, bool back)
{
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (ws_exact(back ? p + n - k : p, k))
            return k;
    return 0;
}

/* Strip whitespace from both ends of out->data[from..len), in place. */
static void strip_from(struct buf *out, size_t from)
{
    unsigned char *s = (unsigned char *)out->data + from;
    size_t n = out->len - from, lead = 0, k;
    while ((k = ws_edge(s + lead, n - lead, false)) > 0)
        lead += k;
    while ((k = ws_edge(s + lead, n - lead, true)) > 0)
        n -= k;
    memmove(s, s + lead, n - lead);
    out->len = from + n - lead;
    out->data[out->len] = 0;
}

/* ---- rendering ---------------------------------------------------------- */

static int role_of(const char *r)
{
    static const char *const names[R_COUNT] = {"system", "user", "assistant"};
    for (int i = 0; i < R_COUNT; i++)
        if (strcmp(r, names[i]) == 0)
            return i;
    return -1;
}

static void put(struct buf *out, const char *s)
{
    if (s)
        buf_puts(out, s);
}

/* One rendering: the table row, the messages, and where this call's output
 * starts in the caller's buffer. */
struct job {
    const struct family *fam;
    const struct eng_chat_msg *msgs;
    size_t n;
    struct buf *out;
    size_t start;
};

static bool any_system(const struct job *j, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        if (role_of(j->msgs[i].role) == R_SYS)
            return true;
    return false;
}

/* fold_pre + the system messages of [lo, hi) joined by blank lines + fold_sep. */
static void put_folded(const struct job *j, size_t lo, size_t hi)
{
    bool first = true;
    put(j->out, j->fam->fold_pre);
    for (size_t i = lo; i < hi; i++) {
        if (role_of(j->msgs[i].role) != R_SYS)
            continue;
        if (!first)
            buf_puts(j->out, "\n\n");
        buf_puts(j->out, j->msgs[i].content);
        first = false;
    }
    put(j->out, j->fam->fold_sep);
}

/* A turn of role r with this content, carrying the system text of [lo, hi)
 * when that range holds any. */
static void put_turn(const struct job *j, int r, const char *content, size_t lo, size_t hi)
{
    const struct family *fam = j->fam;
    if (r == R_USER && fam->bos && j->out->len > j->start)
        buf_puts(j->out, fam->bos);
    put(j->out, fam->pre[r]);
    size_t t0 = j->out->len;
    if (any_system(j, lo, hi))
        put_folded(j, lo, hi);
    size_t c0 = j->out->len;
    buf_puts(j->out, content);
    if (fam->trim & (1u << r))
        strip_from(j->out, fam->trim_folded ? t0 : c0);
    put(j->out, fam->suf[r]);
}

/* SYS_PREAMBLE: the system turn that always opens the prompt. Returns how
 * many messages it consumed (the leading system message, if any). */
static size_t put_preamble(const struct job *j)
{
    const struct family *fam = j->fam;
    bool lead = role_of(j->msgs[0].role) == R_SYS;
    put(j->out, fam->pre[R_SYS]);
    buf_puts(j->out, fam->preamble);
    size_t c0 = j->out->len;
    if (lead)
        buf_puts(j->out, j->msgs[0].content);
    if (fam->trim & T_SYS)
        strip_from(j->out, c0);
    put(j->out, fam->suf[R_SYS]);
    return lead ? 1 : 0;
}

static size_t last_user(const struct job *j)
{
    for (size_t i = j->n; i-- > 0;)
        if (role_of(j->msgs[i].role) == R_USER)
            return i;
    return j->n;
}

/* Emit the messages after the first `from`. In the folding modes system
 * messages wait for the user turn that carries them; system text that no user
 * message follows becomes a user turn with empty content, so it is never
 * silently dropped. */
static void put_messages(const struct job *j, size_t from)
{
    const struct family *fam = j->fam;
    bool fold = fam->sys == SYS_FOLD_FIRST || fam->sys == SYS_FOLD_LAST;
    size_t lu = last_user(j), pending = from;
    for (size_t i = from; i < j->n; i++) {
        int r = role_of(j->msgs[i].role);
        const char *c = j->msgs[i].content;
        if (r == R_SYS && (fold || (fam->skip_empty_sys && !*c)))
            continue;
        if (r == R_USER && fam->sys == SYS_FOLD_FIRST) {
            put_turn(j, r, c, pending, i);
            pending = i + 1;
        } else if (r == R_USER && fam->sys == SYS_FOLD_LAST && i == lu) {
            put_turn(j, r, c, from, j->n);
        } else {
            put_turn(j, r, c, 0, 0);
        }
    }
    if (fam->sys == SYS_FOLD_FIRST && any_system(j, pending, j->n))
        put_turn(j, R_USER, "", pending, j->n);
    if (fam->sys == SYS_FOLD_LAST && lu == j->n && any_system(j, from, j->n))
        put_turn(j, R_USER, "", from, j->n);
}

/* Arguments are checked before anything is written, so a failed call leaves
 * out as it was. */
static int check_messages(const struct eng_chat_msg *msgs, size_t n, char *err)
{
    if (!msgs || n == 0)
        return fief_errf(err, FIEF_EINVAL, "chat: no messages");
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content)
            return fief_errf(err, FIEF_EINVAL, "chat: message %zu has no %s", i,
                             msgs[i].role ? "content" : "role");
        if (role_of(msgs[i].role) < 0)
            return fief_errf(err, FIEF_EINVAL,
                             "chat: message %zu has role \"%.32s\"; expected system, user "
                             "or assistant",
                             i, msgs[i].role);
    }
    return 0;
}

int eng_chat_apply(enum eng_chat_family f, const struct eng_chat_msg *msgs, size_t n,
                   bool add_assistant, struct buf *out, char err[FIEF_ERR_LEN])
{
    if (!out)
        return fief_errf(err, FIEF_EINVAL, "chat: no output buffer");
    if ((unsigned)f >= ENG_CHAT_COUNT)
        return fief_errf(err, FIEF_EINVAL, "chat: unknown template family %d", (int)f);
    int rc = check_messages(msgs, n, err);
    if (rc < 0)
        return rc;

    struct job j = {.fam = &fams[f], .msgs = msgs, .n = n, .out = out, .start = out->len};
    buf_reserve(out, 0); /* data is non-NULL from here on, even for empty output */
    size_t from = j.fam->sys == SYS_PREAMBLE ? put_preamble(&j) : 0;
    put_messages(&j, from);
    put(out, add_assistant ? j.fam->gen : j.fam->end);
    return 0;
}
