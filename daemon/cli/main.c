/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs`: the command-line entry.  Dispatches to a subcommand (cli.h) by name; the
 * subcommands use the public API only.  Exit 2 for a missing or unknown subcommand (one line,
 * no usage dump: cli-options.h has the error style).
 */
#include <stdio.h>
#include <string.h>

#include "autoprocs.h"
#include "daemon/cli/cli.h"

typedef struct ApCliCommand {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
} ApCliCommand;

/* Only the subcommands whose source files are built (daemon/meson.build defines AP_CLI_HAVE_*). */
static const ApCliCommand commands[] = {
        { "detect", ap_cli_detect, "report the CPU limit, affinity and recommended processor count" },
#ifdef AP_CLI_HAVE_EXEC
        { "exec", ap_cli_exec, "run a program with GOMAXPROCS, OMP_NUM_THREADS, ... set to the count" },
#endif
#ifdef AP_CLI_HAVE_RUN
        { "run", ap_cli_run, "run a program in a new CPU-limited cgroup" },
#endif
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: autoprocs COMMAND [OPTIONS]\n\nCommands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\n`autoprocs COMMAND --help` describes each; `autoprocs --version`.\n");
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "autoprocs: missing command (expected detect, exec or run; see autoprocs --help)\n");
                return 2;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("autoprocs %s\n", autoprocs_version());
                return 0;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "autoprocs: %s: unknown command (expected detect, exec or run; see autoprocs --help)\n",
                argv[1]);
        return 2;
}
