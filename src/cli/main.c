#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int cmd_help(int argc, char **argv);
static void usage_help(void);

static const td_command commands[] = {
    {"help", "show this help, or a command's help", cmd_help, usage_help, false},
    {"version", "print the version and build", td_cmd_version, td_usage_version, false},
    {"cpu", "show CPU model, features and the kernel ISA chosen", td_cmd_cpu, td_usage_cpu, false},
    {"formats", "list number formats, their sizes and measured error", td_cmd_formats,
     td_usage_formats, false},
    {"bench", "benchmark kernels against the machine's limits and peers", td_cmd_bench,
     td_usage_bench, true},
    {"info", "list a model's layers, formats, params, MACs, bytes and memory plan",
     td_cmd_model_info, td_usage_model_info, false},
    {"run", "run a model on the tensors of a file", td_cmd_run, td_usage_run, false},
    {"eval", "accuracy of a classifier on a labelled data file", td_cmd_eval, td_usage_eval, false},
    {"compress", "compress a model with calibration (presets or a scheme file)", td_cmd_compress,
     td_usage_compress, false},
    {"estimate", "hardware cost estimates of a model; SCALE-Sim compatible with --scalesim",
     td_cmd_estimate, td_usage_estimate, false},
    {"hw", "list hardware templates and descriptions, or show one", td_cmd_hw, td_usage_hw, false},
    {"explore", "search compression and hardware choices together for Pareto designs",
     td_cmd_explore, td_usage_explore, false},
    {"report", "an HTML report (front plots, Pareto designs) from an explore journal",
     td_cmd_report, td_usage_report, false},
    {"embed", "sentence embeddings with a BERT model (all-MiniLM-L6-v2)", td_cmd_embed,
     td_usage_embed, false},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage_main(FILE *out)
{
    fprintf(out, "usage: tandem <command> [options]\n\n"
                 "Tandem: algorithm-hardware co-design of neural networks.\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'tandem <command> --help' for a command's options.\n"
                 "Exit status: 0 ok, 1 failure, 2 usage error.\n");
}

static const td_command *find(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void usage_help(void)
{
    printf("usage: tandem help [command]\n");
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stdout);
        return TD_EXIT_OK;
    }
    const td_command *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "tandem: unknown command '%s'\n", argv[1]);
        return TD_EXIT_USAGE;
    }
    c->usage();
    return TD_EXIT_OK;
}

int td_cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int td_cli_fail(td_status st)
{
    int code = td_status_code(st) == TD_CODE_INVALID_ARGUMENT ? TD_EXIT_USAGE : TD_EXIT_FAIL;
    fprintf(stderr, "tandem: %s\n", td_status_message(st));
    td_status_free(st);
    return code;
}

int td_cli_parse_threads(const char *text, td_ctx *ctx)
{
    char *end;
    long v = strtol(text ? text : "", &end, 10);
    if (!text || end == text || *end || v < 1 || v > 1024) {
        fprintf(stderr, "tandem: --threads '%s': expected an integer from 1 to 1024\n",
                text ? text : "");
        return 0;
    }
    ctx->threads = (int)v;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        return TD_EXIT_USAGE;
    }
    if (td_cli_is_help(argv[1])) {
        usage_main(stdout);
        return TD_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version"))
        return td_cmd_version(argc - 1, argv + 1);
    const td_command *c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "tandem: unknown command '%s' (see 'tandem help')\n", argv[1]);
        return TD_EXIT_USAGE;
    }
    for (int i = 2; i < (c->has_subjects ? 3 : argc) && i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (td_cli_is_help(argv[i])) {
            c->usage();
            return TD_EXIT_OK;
        }
    }
    return c->run(argc - 1, argv + 1);
}
