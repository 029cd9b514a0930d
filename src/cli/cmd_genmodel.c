/* SPDX-License-Identifier: MIT */
/* `fief gen-model`: write a llama GGUF with random weights. */
#include "cli/cli.h"
#include "engine/genmodel.h"
#include "engine/quant.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: fief gen-model -o OUT.gguf [options]\n"
    "\n"
    "Writes a valid llama-architecture GGUF with seeded random weights and a\n"
    "byte-level BPE tokenizer. Same options and seed give the same file.\n"
    "\n"
    "  -o, --out PATH      output file\n"
    "      --dim D         embedding length (default 64)\n"
    "      --layers L      blocks (default 2)\n"
    "      --heads H       attention heads (default 4)\n"
    "      --kv-heads KV   key/value heads, divides H (default 2)\n"
    "      --ffn F         feed-forward length (default 192)\n"
    "      --vocab V       tokens, at least 258 (default 512)\n"
    "      --ctx C         context length in the metadata (default 512)\n"
    "      --type T        f32, f16, bf16, q8_0 or q4_0 (default f32)\n"
    "      --tied          reuse the embedding table as the output matrix\n"
    "      --seed S        weight and tokenizer seed (default 1)\n";

static const struct option opts[] = {
    {"out", required_argument, NULL, 'o'},    {"dim", required_argument, NULL, 'd'},
    {"layers", required_argument, NULL, 'l'}, {"heads", required_argument, NULL, 'H'},
    {"kv-heads", required_argument, NULL, 'k'}, {"ffn", required_argument, NULL, 'f'},
    {"vocab", required_argument, NULL, 'v'},  {"ctx", required_argument, NULL, 'c'},
    {"type", required_argument, NULL, 'T'},   {"tied", no_argument, NULL, 'y'},
    {"seed", required_argument, NULL, 's'},   {"help", no_argument, NULL, 'h'},
    {0, 0, 0, 0},
};

static int parse_type(const char *s, uint32_t *out)
{
    static const uint32_t types[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(s, qtype_info(types[i])->name)) {
            *out = types[i];
            return 0;
        }
    return cli_usage_err("gen-model", "--type must be f32, f16, bf16, q8_0 or q4_0, got \"%s\"",
                         s);
}

static int set_i32(const char *opt, const char *arg, long lo, long hi, int32_t *out)
{
    long v;
    int rc = cli_int("gen-model", opt, arg, lo, hi, &v);
    if (!rc)
        *out = (int32_t)v;
    return rc;
}

int cmd_gen_model(int argc, char **argv)
{
    struct genmodel_spec s;
    genmodel_spec_defaults(&s);
    const char *out = NULL;
    int ch, rc = 0;
    while (!rc && (ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'd': rc = set_i32("--dim", optarg, 1, 1 << 16, &s.dim); break;
        case 'l': rc = set_i32("--layers", optarg, 1, 1024, &s.layers); break;
        case 'H': rc = set_i32("--heads", optarg, 1, 4096, &s.heads); break;
        case 'k': rc = set_i32("--kv-heads", optarg, 1, 4096, &s.kv_heads); break;
        case 'f': rc = set_i32("--ffn", optarg, 1, 1 << 20, &s.ffn); break;
        case 'v': rc = set_i32("--vocab", optarg, 1, 1 << 24, &s.vocab); break;
        case 'c': rc = set_i32("--ctx", optarg, 1, 1 << 24, &s.ctx); break;
        case 'T': rc = parse_type(optarg, &s.type); break;
        case 'y': s.tied = true; break;
        case 's': rc = cli_u64("gen-model", "--seed", optarg, &s.seed); break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (rc)
        return rc;
    if (!out)
        return cli_usage_err("gen-model", "--out is required");
    if (optind < argc)
        return cli_usage_err("gen-model", "unexpected argument \"%s\"", argv[optind]);
    char err[FIEF_ERR_LEN];
    if (genmodel_check(&s, err))
        return cli_usage_err("gen-model", "%s", err);
    if ((rc = genmodel_write(out, &s, err))) {
        fprintf(stderr, "fief gen-model: %s\n", err);
        return CLI_FAIL;
    }
    return CLI_OK;
}
