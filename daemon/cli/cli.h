/* SPDX-License-Identifier: MIT */
/*
 * The `autoprocs` command's subcommands.  Each takes the arguments after "autoprocs" (argv[0] is
 * the subcommand's name, so getopt works unchanged) and returns the process exit status.
 * daemon/cli/main.c holds the dispatch table; a subcommand is in it only when its file is built.
 */
#pragma once

/* `autoprocs detect` (cli-detect.c, autoprocs(1) "EXIT STATUS"): 0 ok, 1 no CPU count, 2 bad usage. */
int ap_cli_detect(int argc, char **argv);
/* `autoprocs exec` (cli-exec.c): size another runtime through its environment, then exec it. */
int ap_cli_exec(int argc, char **argv);
/* `autoprocs run` (cli-run.c): run a command in a new CPU-limited cgroup (libcgroup). */
int ap_cli_run(int argc, char **argv);
