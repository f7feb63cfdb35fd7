/* SPDX-License-Identifier: MIT */
/*
 * The command line of the `autoprocs` subcommands (cli-options.h): the one error style, the
 * getopt driver that words getopt's errors itself, and the sizing options detect and exec share.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/cli/cli-options.h"
#include "lib/util/parse.h"

int ap_cli_error(const ApCli *cli, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "autoprocs %s: ", cli->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return cli->usage_status;
}

/* The long name of option code @val in @opts, NULL if none. */
static const char *option_name(const struct option *opts, int val)
{
        for (; opts->name; opts++)
                if (opts->val == val)
                        return opts->name;
        return NULL;
}

/* "--name" of the word argv[optind - 1] as typed, without "=value", into @buf. */
static const char *typed_word(int argc, char **argv, char *buf, size_t size)
{
        const char *w = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "?";

        (void)snprintf(buf, size, "%.*s", (int)strcspn(w, "="), w);
        return buf;
}

int ap_cli_next(const ApCli *cli, int argc, char **argv, const struct option *opts, int *ret_status)
{
        char word[128];
        const char *name;
        int c;

        opterr = 0;
        c = getopt_long(argc, argv, "+:h", opts, NULL);
        switch (c) {
        case AP_OPT_HELP:
                cli->usage(stdout);
                *ret_status = fflush(stdout) == 0 ? 0 : 1;
                return -2;
        case AP_OPT_VERSION:
                printf("autoprocs %s\n", autoprocs_version());
                *ret_status = fflush(stdout) == 0 ? 0 : 1;
                return -2;
        case ':':
                name = option_name(opts, optopt);
                if (name)
                        *ret_status = ap_cli_error(cli, "--%s: needs a value (see autoprocs %s --help)", name,
                                                   cli->name);
                else
                        *ret_status = ap_cli_error(cli, "-%c: needs a value (see autoprocs %s --help)", optopt,
                                                   cli->name);
                return -2;
        case '?':
                name = optopt ? option_name(opts, optopt) : NULL;
                if (name)
                        /* A long option without a value, given one (--json=1). */
                        *ret_status = ap_cli_error(cli, "--%s: takes no value (see autoprocs %s --help)", name,
                                                   cli->name);
                else if (optopt > 0 && optopt < 0x100)
                        *ret_status = ap_cli_error(cli, "-%c: unknown option (see autoprocs %s --help)", optopt,
                                                   cli->name);
                else
                        *ret_status = ap_cli_error(cli, "%s: unknown option (see autoprocs %s --help)",
                                                   typed_word(argc, argv, word, sizeof(word)), cli->name);
                return -2;
        default:
                return c;
        }
}

int ap_cli_sizing_init(ApCliSizing *s)
{
        *s = (ApCliSizing){ 0 };
        return autoprocs_config_new(&s->config);
}

void ap_cli_sizing_done(ApCliSizing *s)
{
        s->config = autoprocs_config_free(s->config);
}

int ap_cli_sizing_option(const ApCli *cli, ApCliSizing *s, int opt, const char *arg)
{
        autoprocs_policy pol;
        struct stat st;
        unsigned v;
        uint64_t m;

        switch (opt) {
        case AP_OPT_ROOT:
                if (!*arg || stat(arg, &st) < 0 || !S_ISDIR(st.st_mode) ||
                    autoprocs_config_set_root(s->config, arg) < 0) {
                        (void)ap_cli_error(cli, "--root: '%s' is not a directory (expected a tree with proc/ "
                                           "and sys/, e.g. a fixture)", arg);
                        return -2;
                }
                s->root = arg;
                return 0;
        case AP_OPT_PID:
                if (ap_parse_uint_range(arg, 1, 0x7fffffff, &v) < 0 ||
                    autoprocs_config_set_pid(s->config, (int)v) < 0) {
                        (void)ap_cli_error(cli, "--pid: '%s' is not a process id (expected 1 .. 2147483647)",
                                           arg);
                        return -2;
                }
                s->pid = v;
                return 0;
        case AP_OPT_CGROUP:
                if (!*arg || autoprocs_config_set_cgroup_dir(s->config, arg) < 0) {
                        (void)ap_cli_error(cli, "--cgroup: '%s' is not a directory (expected a cgroup "
                                           "directory, e.g. /sys/fs/cgroup/cpu/app)", arg);
                        return -2;
                }
                s->cgroup = arg;
                return 0;
        case AP_OPT_POLICY:
                if (autoprocs_policy_from_string(arg, &pol) < 0 ||
                    autoprocs_config_set_policy(s->config, pol) < 0) {
                        (void)ap_cli_error(cli, "--policy: unknown policy '%s' (expected go125, ceil, floor "
                                           "or automaxprocs)", arg);
                        return -2;
                }
                return 0;
        case AP_OPT_MIN:
                if (ap_parse_uint_range(arg, 0, 1000000, &v) < 0 || autoprocs_config_set_min(s->config, v) < 0) {
                        (void)ap_cli_error(cli, "--min: '%s' is not a count (expected 0 .. 1000000)", arg);
                        return -2;
                }
                return 0;
        case AP_OPT_RESERVE:
                if (ap_parse_milli(arg, &m) < 0 || autoprocs_config_set_reserve_millicpus(s->config, m) < 0) {
                        (void)ap_cli_error(cli, "--reserve: '%s' is not a CPU amount (expected e.g. 0.5, at "
                                           "most 3 decimals)", arg);
                        return -2;
                }
                return 0;
        default:
                return 1;
        }
}

/* N of "/proc/N/root" (trailing slashes allowed), else 0. */
static unsigned proc_root_pid(const char *root)
{
        static const char pre[] = "/proc/";
        char num[16];
        size_t n;
        unsigned v;

        if (strncmp(root, pre, sizeof(pre) - 1) != 0)
                return 0;
        root += sizeof(pre) - 1;
        n = strspn(root, "0123456789");
        if (n == 0 || n >= sizeof(num) || strncmp(root + n, "/root", 5) != 0 ||
            root[n + 5 + strspn(root + n + 5, "/")] != '\0')
                return 0;
        memcpy(num, root, n);
        num[n] = 0;
        return ap_parse_uint_range(num, 1, 0x7fffffff, &v) == 0 ? v : 0;
}

int ap_cli_sizing_check(const ApCli *cli, const ApCliSizing *s)
{
        unsigned p = s->root ? proc_root_pid(s->root) : 0;

        /* Below /proc/N/root, proc/self is the reader (or nothing, in another pid namespace):
         * the answer would silently be this process's, not N's. */
        if (p != 0 && s->pid == 0 && p != (unsigned)getpid()) {
                (void)ap_cli_error(cli, "--root: %s without --pid describes this process, not process %u "
                                   "(expected --pid %u alone: it reads the mounts through %s)",
                                   s->root, p, p, s->root);
                return -2;
        }
        return 0;
}
