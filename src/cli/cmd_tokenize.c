/* SPDX-License-Identifier: MIT */
/* `fief tokenize`: the token ids and pieces of a text, from the model's
 * tokenizer alone (the weights are never read). */
#include "cli/cli.h"
#include "cli/infer.h"
#include "engine/engine.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: fief tokenize -m MODEL.gguf [options] TEXT\n"
    "\n"
    "Prints one line per token: its id and its text piece (as a JSON string).\n"
    "\n"
    "  -m, --model PATH   GGUF file (only its tokenizer is read)\n"
    "      --no-bos       do not add the BOS token\n"
    "      --special      parse special-token text such as <|im_start|>\n"
    "      --ids          print only the ids, space-separated, on one line\n";

static const struct option opts[] = {
    {"model", required_argument, NULL, 'm'}, {"no-bos", no_argument, NULL, 'B'},
    {"special", no_argument, NULL, 'S'},     {"ids", no_argument, NULL, 'I'},
    {"help", no_argument, NULL, 'h'},        {0, 0, 0, 0},
};

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL;
    int flags = ENG_TOK_ADD_BOS, ch;
    bool ids_only = false;
    while ((ch = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'B': flags &= ~ENG_TOK_ADD_BOS; break;
        case 'S': flags |= ENG_TOK_PARSE_SPECIAL; break;
        case 'I': ids_only = true; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return CLI_USAGE;
        }
    }
    if (!model)
        return cli_usage_err("tokenize", "--model is required");
    if (optind + 1 != argc)
        return cli_usage_err("tokenize", "give exactly one TEXT argument");
    char err[FIEF_ERR_LEN];
    struct eng_vocab *v;
    if (eng_vocab_open(model, &v, err)) {
        fprintf(stderr, "fief tokenize: %s\n", err);
        return CLI_FAIL;
    }
    const char *text = argv[optind];
    int32_t *ids;
    size_t n;
    int rc = infer_tokenize(v, text, strlen(text), flags, &ids, &n);
    if (rc) {
        fprintf(stderr, "fief tokenize: %s\n", fief_strerror(rc));
        eng_vocab_free(v);
        return CLI_FAIL;
    }
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (ids_only) {
            buf_printf(&b, "%s%d", i ? " " : "", ids[i]);
            continue;
        }
        char piece[256];
        int len = eng_token_piece(v, ids[i], piece, sizeof piece, ENG_PIECE_SPECIAL);
        if (len < 0)
            len = 0;
        if ((size_t)len > sizeof piece)
            len = sizeof piece;
        buf_printf(&b, "%6d ", ids[i]);
        cli_json_str(&b, piece, (size_t)len);
        buf_putc(&b, '\n');
    }
    if (ids_only)
        buf_putc(&b, '\n');
    fwrite(b.data, 1, b.len, stdout);
    buf_deinit(&b);
    free(ids);
    eng_vocab_free(v);
    return CLI_OK;
}
