/* SPDX-License-Identifier: MIT */
/* `fief run` (generate) and `fief score` (teacher-forced log-probs) on the
 * built-in engine. */
#include "cli/cli.h"
#include "cli/infer.h"
#include "common/xalloc.h"
#include "engine/engine.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- fief run ---- */

static const char run_help[] =
    "usage: fief run -m MODEL.gguf (-p PROMPT | -f FILE) [options]\n"
    "\n"
    "Streams the model's continuation of PROMPT to stdout; a timing summary\n"
    "goes to stderr.\n"
    "\n"
    "  -m, --model PATH       GGUF model file\n"
    "  -p, --prompt TEXT      prompt text\n"
    "  -f, --file PATH        read the prompt from a file\n"
    "      --chat             wrap the prompt as a user message in the model's chat template\n"
    "  -n, --n-predict N      tokens to generate (default 128)\n"
    "      --temp T           temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K          keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P          nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P          drop tokens below P x the best; 0 = off (default 0.05)\n"
    "      --repeat-penalty R penalise the last 64 tokens; 1 = off (default 1)\n"
    "      --seed S           sampling seed (default: random, printed on stderr)\n"
    INFER_COMMON_HELP
    "      --logprobs K       report the K most likely alternatives per token (0..20)\n"
    "      --json             one JSON object per generated token instead of text\n";

struct run_out {
    const struct eng_vocab *vocab;
    bool json;
    int32_t pos;
    struct buf line;
};

static void json_piece(struct buf *b, const struct eng_vocab *v, int32_t id)
{
    char piece[256];
    int n = eng_token_piece(v, id, piece, sizeof piece, 0);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof piece)
        n = sizeof piece;
    cli_json_str(b, piece, (size_t)n);
}

static int on_token(void *ud, const struct eng_pick *pick)
{
    struct run_out *o = ud;
    if (!o->json) {
        char piece[256];
        int n = eng_token_piece(o->vocab, pick->id, piece, sizeof piece, 0);
        if (n > (int)sizeof piece)
            n = sizeof piece;
        if (n > 0) {
            fwrite(piece, 1, (size_t)n, stdout);
            fflush(stdout);
        }
        o->pos++;
        return 0;
    }
    struct buf *b = &o->line;
    buf_reset(b);
    buf_printf(b, "{\"pos\":%d,\"id\":%d,\"text\":", o->pos++, pick->id);
    json_piece(b, o->vocab, pick->id);
    buf_printf(b, ",\"logprob\":%.9g,\"top\":[", (double)pick->logprob);
    for (int i = 0; i < pick->n_top; i++) {
        buf_printf(b, "%s{\"id\":%d,\"text\":", i ? "," : "", pick->top[i].id);
        json_piece(b, o->vocab, pick->top[i].id);
        buf_printf(b, ",\"logprob\":%.9g}", (double)pick->top[i].logprob);
    }
    buf_puts(b, "]}\n");
    fwrite(b->data, 1, b->len, stdout);
    fflush(stdout);
    return 0;
}

/* The sampling options, shared by run (generate) and score (audit a generation). */
#define SAMPLING_OPTS                                                                          \
    {"temp", required_argument, NULL, 'T'}, {"top-k", required_argument, NULL, 'K'},           \
        {"top-p", required_argument, NULL, 'P'}, {"min-p", required_argument, NULL, 'M'},      \
        {"repeat-penalty", required_argument, NULL, 'R'}, {"seed", required_argument, NULL, 'S'}

/* Handle a sampling option: 0 if handled, CLI_USAGE on a bad value, or
 * INFER_NOT_MINE. The ranges are the protocol's. */
static int sampling_opt(struct eng_sampling *sp, const char *c, int ch, const char *arg,
                        bool *seeded)
{
    long v;
    int rc;
    switch (ch) {
    case 'T': return cli_float(c, "--temp", arg, 0, 100, &sp->temperature);
    case 'K':
        rc = cli_int(c, "--top-k", arg, 0, 1 << 24, &v);
        sp->top_k = (int32_t)v;
        return rc;
    case 'P': return cli_float(c, "--top-p", arg, 0, 1, &sp->top_p);
    case 'M': return cli_float(c, "--min-p", arg, 0, 1, &sp->min_p);
    case 'R': return cli_float(c, "--repeat-penalty", arg, 0.01, 100, &sp->repeat_penalty);
    case 'S':
        *seeded = true;
        return cli_u64(c, "--seed", arg, &sp->seed);
    }
    return INFER_NOT_MINE;
}

static const struct option run_opts[] = {
    INFER_COMMON_OPTS,
    SAMPLING_OPTS,
    {"prompt", required_argument, NULL, 'p'},
    {"file", required_argument, NULL, 'f'},
    {"chat", no_argument, NULL, 'C'},
    {"n-predict", required_argument, NULL, 'n'},
    {"logprobs", required_argument, NULL, 'L'},
    {"json", no_argument, NULL, 'J'},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

static int parse_run(int argc, char **argv, struct infer_opts *io, struct eng_sampling *sp,
                     long *n_predict, long *n_top, bool *json, bool *chat, bool *seeded)
{
    const char *c = "run";
    int ch, rc = 0;
    while (!rc && (ch = getopt_long(argc, argv, "m:p:f:n:t:h", run_opts, NULL)) != -1) {
        if ((rc = infer_opt(io, c, ch, optarg)) != INFER_NOT_MINE ||
            (rc = sampling_opt(sp, c, ch, optarg, seeded)) != INFER_NOT_MINE)
            continue;
        rc = 0;
        switch (ch) {
        case 'p': io->prompt = optarg; break;
        case 'f': io->prompt_file = optarg; break;
        case 'C': *chat = true; break;
        case 'n': rc = cli_int(c, "--n-predict", optarg, 0, 1 << 20, n_predict); break;
        case 'L': rc = cli_int(c, "--logprobs", optarg, 0, ENG_MAX_TOP, n_top); break;
        case 'J': *json = true; break;
        case 'h': fputs(run_help, stdout); return -1;
        default: return CLI_USAGE;
        }
    }
    if (!rc && optind < argc)
        rc = cli_usage_err(c, "unexpected argument \"%s\"", argv[optind]);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct infer_opts io;
    infer_opts_init(&io);
    struct eng_sampling sp;
    eng_sampling_defaults(&sp);
    sp.temperature = 0.8f;
    sp.top_k = 40;
    sp.top_p = 0.95f;
    sp.min_p = 0.05f;
    long n_predict = 128, n_top = 0;
    bool json = false, chat = false, seeded = false;
    int rc = parse_run(argc, argv, &io, &sp, &n_predict, &n_top, &json, &chat, &seeded);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (!seeded)
        sp.seed = infer_random_seed();
    struct infer in;
    if ((rc = infer_open(&in, &io, "run")))
        return rc;
    int32_t *prompt = NULL;
    size_t np = 0;
    if ((rc = infer_prompt(&in, &io, "run", chat, &prompt, &np)))
        goto out;
    struct run_out o = {.vocab = eng_model_vocab(in.model), .json = json, .pos = (int32_t)np};
    buf_init(&o.line);
    struct eng_gen_stats st;
    int erc = eng_generate(in.ctx, in.sampler, &sp, prompt, np, (int32_t)n_predict, (int)n_top,
                           on_token, &o, &st);
    buf_deinit(&o.line);
    if (!json && isatty(STDOUT_FILENO))
        putchar('\n');
    fflush(stdout);
    if (erc) {
        fprintf(stderr, "fief run: generation failed: %s\n", erc == FIEF_ELIMIT
                ? "the prompt does not fit the context (raise --ctx)" : fief_strerror(erc));
        rc = CLI_FAIL;
        goto out;
    }
    infer_report(&in, &st, sp.seed);
out:
    free(prompt);
    infer_close(&in);
    return rc;
}

/* ---- fief score ---- */

static const char score_help[] =
    "usage: fief score -m MODEL.gguf (--prompt TEXT | --prompt-ids IDS)\n"
    "                  (--completion TEXT | --completion-ids IDS) [options]\n"
    "\n"
    "Teacher-forced scoring: for every completion token, its log-probability, the\n"
    "model's most likely token, and the token the sampler picks there with how far\n"
    "the given token is from being picked (its margin), in one batched pass. This is\n"
    "what a miner answers to the pool's audit (docs/audits.md).\n"
    "\n"
    "  -m, --model PATH        GGUF model file\n"
    "      --prompt TEXT       prompt text (tokenized with BOS)\n"
    "      --prompt-ids IDS    prompt as comma-separated token ids (taken as given)\n"
    "      --completion TEXT   completion text: prompt+completion is tokenized as one\n"
    "                          text and must extend the prompt's tokens\n"
    "      --completion-ids IDS completion as comma-separated token ids\n"
    "      --temp T, --top-k K, --top-p P, --min-p P, --repeat-penalty R, --seed S\n"
    "                          the sampling that produced the completion (as in run; the\n"
    "                          ones not given default to 0, 0, 1, 0, 1, 0). Without any,\n"
    "                          picks are greedy: the top-1, margins its logit gap\n"
    INFER_COMMON_HELP
    "      --json              print one JSON document\n";

static const struct option score_opts[] = {
    INFER_COMMON_OPTS,
    SAMPLING_OPTS,
    {"prompt", required_argument, NULL, 'p'},
    {"prompt-ids", required_argument, NULL, 'I'},
    {"completion", required_argument, NULL, 'c'},
    {"completion-ids", required_argument, NULL, 'D'},
    {"json", no_argument, NULL, 'J'},
    {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

struct score_args {
    struct infer_opts io;
    const char *ctext, *pids, *cids;
    struct eng_sampling sp;
    bool sampled; /* a sampling option was given */
    bool json;
};

static void print_json_tok(struct buf *b, const struct eng_vocab *v, int32_t id,
                           const struct eng_score_tok *s, size_t pos)
{
    buf_printf(b, "{\"pos\":%zu,\"id\":%d,\"text\":", pos, id);
    json_piece(b, v, id);
    buf_printf(b, ",\"logprob\":%.9g,\"top_id\":%d,\"top_text\":", (double)s->logprob, s->top_id);
    json_piece(b, v, s->top_id);
    buf_printf(b, ",\"top_logprob\":%.9g,\"pick\":%d,\"pick_text\":", (double)s->top_logprob,
               s->pick);
    json_piece(b, v, s->pick);
    buf_printf(b, ",\"margin\":%.9g}", (double)s->margin);
}

static void print_score(const struct eng_vocab *v, const int32_t *ids, size_t n,
                        const struct eng_score_tok *s, size_t np, bool json)
{
    struct buf b;
    buf_init(&b);
    double sum = 0;
    if (json)
        buf_printf(&b, "{\"prompt_tokens\":%zu,\"tokens\":[", np);
    else
        buf_puts(&b, "pos\tid\tlogprob\ttop_id\ttop_logprob\tpick\tmargin\tpiece\n");
    for (size_t i = 0; i < n; i++) {
        sum += s[i].logprob;
        if (json) {
            buf_puts(&b, i ? "," : "");
            print_json_tok(&b, v, ids[i], &s[i], np + i);
        } else {
            buf_printf(&b, "%zu\t%d\t%.6f\t%d\t%.6f\t%d\t%.6g\t", np + i, ids[i],
                       (double)s[i].logprob, s[i].top_id, (double)s[i].top_logprob, s[i].pick,
                       (double)s[i].margin);
            json_piece(&b, v, ids[i]);
            buf_putc(&b, '\n');
        }
    }
    if (json)
        buf_printf(&b, "],\"sum_logprob\":%.9g}\n", sum);
    else
        buf_printf(&b, "sum_logprob\t%.6f\n", sum);
    fwrite(b.data, 1, b.len, stdout);
    buf_deinit(&b);
}

/* Options into a; -1 after --help, CLI_USAGE on an error (printed). */
static int parse_score(int argc, char **argv, struct score_args *a)
{
    const char *c = "score";
    int ch, rc = 0;
    infer_opts_init(&a->io);
    eng_sampling_defaults(&a->sp); /* a job's defaults; the penalty window is the protocol's 64 */
    while (!rc && (ch = getopt_long(argc, argv, "m:t:h", score_opts, NULL)) != -1) {
        bool seeded = false;
        if ((rc = infer_opt(&a->io, c, ch, optarg)) != INFER_NOT_MINE)
            continue;
        if ((rc = sampling_opt(&a->sp, c, ch, optarg, &seeded)) != INFER_NOT_MINE) {
            a->sampled = true;
            continue;
        }
        rc = 0;
        switch (ch) {
        case 'p': a->io.prompt = optarg; break;
        case 'I': a->pids = optarg; break;
        case 'c': a->ctext = optarg; break;
        case 'D': a->cids = optarg; break;
        case 'J': a->json = true; break;
        case 'h': fputs(score_help, stdout); return -1;
        default: return CLI_USAGE;
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_err(c, "unexpected argument \"%s\"", argv[optind]);
    if (!!a->io.prompt + !!a->pids != 1 || !!a->ctext + !!a->cids != 1)
        return cli_usage_err(c, "give one of --prompt/--prompt-ids and one of "
                                "--completion/--completion-ids");
    return 0;
}

static const char *score_error(int erc)
{
    return erc == FIEF_ELIMIT   ? "prompt + completion do not fit the context (raise --ctx)"
           : erc == FIEF_EINVAL ? "a token id is out of range, the prompt is empty, or the "
                                  "model's logits are not finite"
                                : fief_strerror(erc);
}

int cmd_score(int argc, char **argv)
{
    const char *c = "score";
    struct score_args a = {0};
    int rc = parse_score(argc, argv, &a);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    struct infer in;
    if ((rc = infer_open(&in, &a.io, c)))
        return rc;
    int32_t *prompt = NULL, *comp = NULL;
    size_t np = 0, nc = 0;
    struct eng_score_tok *s = NULL;
    if (a.pids)
        rc = cli_ids(c, "--prompt-ids", a.pids, &prompt, &np);
    else
        rc = infer_prompt(&in, &a.io, c, false, &prompt, &np);
    if (rc)
        goto out;
    if (a.cids)
        rc = cli_ids(c, "--completion-ids", a.cids, &comp, &nc);
    else
        rc = infer_split_completion(&in, a.io.prompt, a.ctext, prompt, np, &comp, &nc);
    if (rc)
        goto out;
    s = xcalloc(nc ? nc : 1, sizeof *s);
    int erc = eng_score(in.ctx, in.sampler, a.sampled ? &a.sp : NULL, prompt, np, comp, nc, s);
    if (erc) {
        fprintf(stderr, "fief score: %s\n", score_error(erc));
        rc = CLI_FAIL;
        goto out;
    }
    print_score(eng_model_vocab(in.model), comp, nc, s, np, a.json);
out:
    free(s);
    free(prompt);
    free(comp);
    infer_close(&in);
    return rc;
}
