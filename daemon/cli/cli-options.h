/* SPDX-License-Identifier: MIT */
/*
 * The command line of every `autoprocs` subcommand: one error style and one parser for the
 * options detect and exec share.
 *
 * Every usage error is one line on stderr,
 *     autoprocs CMD: --option: what is wrong (what is expected)
 * and the subcommand's usage status (2 for detect, env(1)'s 125 for exec and run); the usage text
 * is printed only for --help.  getopt's own messages are off (opterr = 0): ap_cli_next() words
 * unknown options, missing values and stray values itself.  --help and --version are accepted by
 * every subcommand (AP_CLI_STD_OPTIONS).
 *
 * The sizing options (--root, --pid, --cgroup, --policy, --min, --reserve) are parsed once, here,
 * into an autoprocs_config: the same bad value gets the same words from every command.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "autoprocs.h"
#include "lib/util/macro.h"

typedef struct ApCli {
        const char *name;             /* "detect": messages start "autoprocs detect: " */
        int usage_status;             /* exit status of a usage error */
        void (*usage)(FILE *f);       /* the --help text */
} ApCli;

/* Option codes (long options only, beside -h). */
enum {
        AP_OPT_HELP = 'h',
        AP_OPT_VERSION = 0x100,
        AP_OPT_ROOT,
        AP_OPT_PID,
        AP_OPT_CGROUP,
        AP_OPT_POLICY,
        AP_OPT_MIN,
        AP_OPT_RESERVE,
        AP_OPT_OWN = 0x200,           /* a subcommand's own options start here */
};

#define AP_CLI_STD_OPTIONS                                                                       \
        { "help", no_argument, NULL, AP_OPT_HELP }, { "version", no_argument, NULL, AP_OPT_VERSION }

#define AP_CLI_SIZING_OPTIONS                                                                    \
        { "root", required_argument, NULL, AP_OPT_ROOT },                                        \
        { "pid", required_argument, NULL, AP_OPT_PID },                                          \
        { "cgroup", required_argument, NULL, AP_OPT_CGROUP },                                    \
        { "policy", required_argument, NULL, AP_OPT_POLICY },                                    \
        { "min", required_argument, NULL, AP_OPT_MIN },                                          \
        { "reserve", required_argument, NULL, AP_OPT_RESERVE }

/* The --help lines of the sizing options. */
#define AP_CLI_SIZING_HELP                                                                        \
        "  --root DIR      read procfs/sysfs below DIR instead of / (a fixture tree)\n"           \
        "  --pid PID       describe process PID instead of this one (its cgroup is read\n"       \
        "                  through our mounts, else through /proc/PID/root)\n"                    \
        "  --cgroup DIR    describe a cgroup directory instead of a process\n"                   \
        "  --policy P      rounding policy: go125 (default), ceil, floor, automaxprocs\n"        \
        "  --min N         lowest count any policy may return\n"                                  \
        "  --reserve CPUS  CPUs to subtract from the limit before rounding, e.g. 0.5\n"

#define AP_CLI_STD_HELP                                                                           \
        "  --help          this text\n"                                                           \
        "  --version       the version\n"

/* What the sizing options said. */
typedef struct ApCliSizing {
        autoprocs_config *config;     /* owned; ap_cli_sizing_done() frees it */
        const char *root;             /* --root, borrowed from argv */
        const char *cgroup;           /* --cgroup, borrowed from argv */
        unsigned pid;                 /* --pid, 0 = none */
} ApCliSizing;

/* One usage error line "autoprocs NAME: ..." on stderr.  @retval cli->usage_status */
int ap_cli_error(const ApCli *cli, const char *fmt, ...) AP_PRINTF(2, 3);

/*
 * getopt_long() for a subcommand (argv[0] is its name; set optind = 0 before the first call: a full
 * reset of getopt; options stop at the first operand, as "+" does).  @opts must contain AP_CLI_STD_OPTIONS.
 * @retval the option code, -1 at the end of the options, or -2 when the caller must return
 * *ret_status: a usage error (printed), or --help / --version (printed, status 0).
 */
int ap_cli_next(const ApCli *cli, int argc, char **argv, const struct option *opts, int *ret_status);

/* A configuration with the defaults.  @retval 0  @retval -ENOMEM */
int ap_cli_sizing_init(ApCliSizing *s);
void ap_cli_sizing_done(ApCliSizing *s);
/*
 * Handle sizing option @opt with value @arg.  @retval 0 taken  @retval 1 not a sizing option
 * @retval -2 a usage error (printed; return cli->usage_status)
 */
int ap_cli_sizing_option(const ApCli *cli, ApCliSizing *s, int opt, const char *arg);
/*
 * The checks across options, after the last one: --root /proc/N/root without --pid would
 * describe the caller (refused: --pid N is what reads process N).  @retval 0  @retval -2 printed
 */
int ap_cli_sizing_check(const ApCli *cli, const ApCliSizing *s);

/* "%u processor%s": the plural ending of a count ("1 processor", "2 processors"). */
#define AP_CLI_PLURAL(n) ((n) == 1 ? "" : "s")
