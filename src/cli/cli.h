/* The `tandem` command: one file per subcommand. Exit codes: 0 ok, 1 failure, 2 usage. */
#ifndef TANDEM_CLI_H
#define TANDEM_CLI_H

#include "tandem/tandem.h"

enum { TD_EXIT_OK = 0, TD_EXIT_FAIL = 1, TD_EXIT_USAGE = 2 };

typedef struct td_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    void (*usage)(void);
    /* Commands with subjects (bench X, explore ask, ...) take --help after the subject
     * themselves, to show the subject's own usage. */
    bool has_subjects;
} td_command;

/* Prints "tandem: <message>" for a failed status, frees it and returns TD_EXIT_FAIL
 * (or TD_EXIT_USAGE for invalid arguments). */
int td_cli_fail(td_status st);
/* True for -h / --help. */
int td_cli_is_help(const char *arg);
/* Parses a --threads value; prints the error itself. */
int td_cli_parse_threads(const char *text, td_ctx *ctx);

int td_cmd_version(int argc, char **argv);
void td_usage_version(void);
int td_cmd_cpu(int argc, char **argv);
void td_usage_cpu(void);
int td_cmd_formats(int argc, char **argv);
void td_usage_formats(void);
int td_cmd_bench(int argc, char **argv);
void td_usage_bench(void);
int td_cmd_model_info(int argc, char **argv);
void td_usage_model_info(void);
int td_cmd_run(int argc, char **argv);
void td_usage_run(void);
int td_cmd_eval(int argc, char **argv);
void td_usage_eval(void);
int td_cmd_compress(int argc, char **argv);
void td_usage_compress(void);
/* tandem estimate MODEL --hw FILE (cmd_estimate_model.c); td_cmd_estimate hands it every
 * form other than --scalesim. */
int td_estimate_model_cmd(int argc, char **argv);
void td_usage_estimate_model(void);
int td_cmd_estimate(int argc, char **argv);
void td_usage_estimate(void);
int td_cmd_hw(int argc, char **argv);
void td_usage_hw(void);
int td_cmd_explore(int argc, char **argv);
void td_usage_explore(void);
int td_cmd_report(int argc, char **argv);
void td_usage_report(void);
int td_cmd_embed(int argc, char **argv);
void td_usage_embed(void);

#endif
