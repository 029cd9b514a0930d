/* SPDX-License-Identifier: MIT */
/* `fief`: one binary, one subcommand per job. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"run", cmd_run, "generate text with the built-in engine"},
    {"score", cmd_score, "teacher-forced log-probabilities of a completion"},
    {"tokenize", cmd_tokenize, "show the token ids and pieces of a text"},
    {"gen-model", cmd_gen_model, "write a llama GGUF with random weights (tests, benchmarks)"},
    {"pool", cmd_pool, "run the pool server: miners on one port, the OpenAI API on another"},
    {"demo", cmd_demo, "a pool and a local miner, ready to try with curl"},
    {"keys", cmd_keys, "create, list and revoke the API keys of a pool's customers"},
    {"credit", cmd_credit, "add credit to a customer's API key (a deposit)"},
    {"payouts", cmd_payouts, "batch miners' matured earnings for payment; confirm or cancel"},
    {"ledger", cmd_ledger, "check the books' invariants; show transactions and postings"},
    {"receipt", cmd_receipt, "verify a signed receipt of a settled request"},
    {"miner", cmd_miner, "serve models to a pool and earn for the tokens"},
};

static void usage(FILE *f)
{
    fprintf(f, "fief %s — an inference mining pool\n\nusage: fief COMMAND [options]\n\n"
               "commands:\n", FIEF_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`fief COMMAND --help` describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("fief %s\n", FIEF_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "fief: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
