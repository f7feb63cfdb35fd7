/* SPDX-License-Identifier: MIT */
/*
 * autoprocsd's configuration (see config.h): command line, environment, config file.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/limits.h>
#include <sys/types.h>

#include "daemon/autoprocsd/daemon-config.h"
#include "daemon/autoprocsd/log.h"
#include "daemon/common/publish.h"
#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/macro.h"
#include "lib/util/parse.h"
#include "lib/util/path.h"

#define MAX_FILE_LINE 4096

static int errorf(char **ret_error, const char *fmt, ...) AP_PRINTF(2, 3);
static int errorf(char **ret_error, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -EINVAL;
}

static int strv_push(char ***v, size_t *n, const char *s)
{
        char **nv = realloc(*v, (*n + 2) * sizeof(**v));

        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[*n] = strdup(s);
        if (!nv[*n])
                return -ENOMEM;
        (*n)++;
        nv[*n] = NULL;
        return 0;
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* Replace *dst by a copy of @s. */
static int str_set(char **dst, const char *s)
{
        char *c = strdup(s);

        if (!c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Targets and addresses
 * ------------------------------------------------------------------------------------------- */

int ap_target_spec_parse(const char *s, ApTargetSpec *ret, const char **ret_why)
{
        ApTargetSpec t = { 0 };
        unsigned pid;

        if (strcmp(s, "self") == 0) {
                t.kind = AP_TARGET_SELF;
        } else if (strncmp(s, "pid:", 4) == 0) {
                if (ap_parse_uint_range(s + 4, 1, 0x7fffffff, &pid) < 0) {
                        *ret_why = "pid:N needs a process id (a positive number)";
                        return -EINVAL;
                }
                t.kind = AP_TARGET_PID;
                t.pid = (int)pid;
        } else if (strncmp(s, "cgroup:", 7) == 0) {
                if (s[7] != '/') {
                        *ret_why = "cgroup:PATH needs an absolute cgroup directory";
                        return -EINVAL;
                }
                if (ap_path_has_dotdot(s + 7)) {
                        *ret_why = "cgroup:PATH may not contain a \"..\" component";
                        return -EINVAL;
                }
                t.kind = AP_TARGET_CGROUP;
                t.path = strdup(s + 7);
                if (!t.path)
                        return -ENOMEM;
        } else if (strncmp(s, "root:", 5) == 0) {
                if (s[5] == '\0') {
                        *ret_why = "root:DIR needs a directory";
                        return -EINVAL;
                }
                t.kind = AP_TARGET_ROOT;
                t.path = strdup(s + 5);
                if (!t.path)
                        return -ENOMEM;
        } else if (strcmp(s, "kubepods") == 0 || strncmp(s, "kubepods:", 9) == 0) {
                const char *dir = s[8] ? s + 9 : AP_DAEMON_DEFAULT_CGROUPFS;

                if (dir[0] != '/') {
                        *ret_why = "kubepods:DIR needs the absolute path of a cgroupfs mount point, "
                                   "e.g. kubepods:/host/sys/fs/cgroup";
                        return -EINVAL;
                }
                t.kind = AP_TARGET_KUBEPODS;
                t.path = strdup(dir);
                if (!t.path)
                        return -ENOMEM;
        } else if (strncmp(s, "cgroup-tree:", 12) == 0) {
                if (s[12] != '/') {
                        *ret_why = "cgroup-tree:PATH needs an absolute cgroup directory";
                        return -EINVAL;
                }
                t.kind = AP_TARGET_CGROUP_TREE;
                t.path = strdup(s + 12);
                if (!t.path)
                        return -ENOMEM;
        } else if (strncmp(s, "comm:", 5) == 0) {
                /* The kernel keeps 15 bytes of a command name (TASK_COMM_LEN - 1). */
                if (s[5] == '\0' || strlen(s + 5) > 15 || strchr(s + 5, '/')) {
                        *ret_why = "comm:NAME needs a process name of 1 to 15 characters, as in /proc/PID/comm";
                        return -EINVAL;
                }
                t.kind = AP_TARGET_COMM;
                t.path = strdup(s + 5);
                if (!t.path)
                        return -ENOMEM;
        } else {
                *ret_why = "unknown target (expected self, pid:N, cgroup:PATH, root:DIR, comm:NAME, "
                           "kubepods[:DIR] or cgroup-tree:PATH)";
                return -EINVAL;
        }
        for (const char *p = s; *p; p++) {
                if (*p == '\n') {
                        free(t.path);
                        *ret_why = "a target may not contain a newline";
                        return -EINVAL;
                }
        }
        t.label = strdup(s);
        if (!t.label) {
                free(t.path);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

void ap_target_spec_done(ApTargetSpec *t)
{
        free(t->path);
        free(t->label);
        *t = (ApTargetSpec){ 0 };
}

int ap_listen_addr_parse(const char *s, ApListenAddr *ret, const char **ret_why)
{
        ApListenAddr a = { 0 };
        const char *colon;
        char host[INET6_ADDRSTRLEN + 1];
        size_t hlen;
        unsigned port;

        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':') {
                        *ret_why = "an IPv6 address is written [ADDR]:PORT";
                        return -EINVAL;
                }
                hlen = (size_t)(close - s - 1);
                colon = close + 1;
                if (hlen == 0 || hlen >= sizeof(host)) {
                        *ret_why = "bad IPv6 address";
                        return -EINVAL;
                }
                memcpy(host, s + 1, hlen);
        } else {
                colon = strrchr(s, ':');
                if (!colon) {
                        *ret_why = "expected ADDRESS:PORT, e.g. 127.0.0.1:9464 or [::1]:9464";
                        return -EINVAL;
                }
                hlen = (size_t)(colon - s);
                if (hlen == 0 || hlen >= sizeof(host)) {
                        *ret_why = "expected ADDRESS:PORT, e.g. 127.0.0.1:9464 or [::1]:9464";
                        return -EINVAL;
                }
                memcpy(host, s, hlen);
        }
        host[hlen] = '\0';
        if (ap_parse_uint_range(colon + 1, 0, 65535, &port) < 0) {
                *ret_why = "the port must be a number 0..65535 (0 picks a free one)";
                return -EINVAL;
        }
        if (s[0] == '[') {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.sa;

                if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
                        *ret_why = "bad IPv6 address";
                        return -EINVAL;
                }
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons((uint16_t)port);
                a.salen = sizeof(*sin6);
        } else {
                struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;

                if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
                        *ret_why = "bad IPv4 address (IPv6 is written [ADDR]:PORT)";
                        return -EINVAL;
                }
                sin->sin_family = AF_INET;
                sin->sin_port = htons((uint16_t)port);
                a.salen = sizeof(*sin);
        }
        a.text = strdup(s);
        if (!a.text)
                return -ENOMEM;
        *ret = a;
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------------------------- */

void ap_daemon_usage(void)
{
        fputs("Usage: autoprocsd [--listen ADDR:PORT]... [--target SPEC]... [--interval DURATION]\n"
              "                  [--policy go125|ceil|floor|automaxprocs] [--publish DIR]\n"
              "                  [--pod-logs DIR] [--config FILE]\n"
              "                  [--log-level err|warning|notice|info|debug]\n"
              "Serve the CPU limits, throttling and pressure of processes and cgroups as Prometheus\n"
              "metrics on http://ADDR:PORT/metrics (also /healthz, /readyz, /v1/limits).\n"
              "\n"
              "  --listen ADDR:PORT  127.0.0.1:9464 or [::1]:9464; may repeat; port 0 picks a free one.\n"
              "                      Default: a socket passed by systemd, else " AP_DAEMON_DEFAULT_LISTEN ".\n"
              "  --target SPEC       self (default), pid:N, cgroup:PATH, root:DIR or comm:NAME (the\n"
              "                      process named NAME, e.g. the app next to a sidecar), kubepods[:DIR]\n"
              "                      (every pod container below the cgroupfs DIR, default /sys/fs/cgroup,\n"
              "                      followed live) or cgroup-tree:PATH (every container below PATH); may repeat\n"
              "  --interval D        how often each target is read: 1s (default), 250ms, ...\n"
              "  --policy P          rounding policy of the recommended processor count (go125)\n"
              "  --publish DIR       keep DIR/<target>.env with AUTOPROCS_PROCS, GOMAXPROCS, ...\n"
              "  --pod-logs DIR      the kubelet's log tree, for namespace, pod and container names\n"
              "                      (default /var/log when it holds pods/; none: no names)\n"
              "  --config FILE       'key = value' lines with the keys above; re-read on SIGHUP\n"
              "  --log-level L       err, warning, notice, info (default) or debug\n"
              "Environment: AUTOPROCSD_LISTEN, AUTOPROCSD_TARGETS, AUTOPROCSD_INTERVAL,\n"
              "AUTOPROCSD_POLICY, AUTOPROCSD_PUBLISH, AUTOPROCSD_POD_LOGS, AUTOPROCSD_LOG_LEVEL,\n"
              "AUTOPROCSD_CONFIG.\n",
              stdout);
}

int ap_daemon_args_parse(int argc, char **argv, ApDaemonArgs *ret, char **ret_error)
{
        static const struct option opts[] = {
                { "listen", required_argument, NULL, 'l' },
                { "target", required_argument, NULL, 't' },
                { "interval", required_argument, NULL, 'i' },
                { "policy", required_argument, NULL, 'p' },
                { "publish", required_argument, NULL, 'P' },
                { "pod-logs", required_argument, NULL, 'K' },
                { "config", required_argument, NULL, 'c' },
                { "log-level", required_argument, NULL, 'L' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        ApDaemonArgs a = { 0 };
        int c, r = 0;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":l:t:i:p:c:hV", opts, NULL)) >= 0) {
                switch (c) {
                case 'l':
                        r = strv_push(&a.listen, &a.n_listen, optarg);
                        break;
                case 't':
                        r = strv_push(&a.targets, &a.n_targets, optarg);
                        break;
                case 'i':
                        r = str_set(&a.interval, optarg);
                        break;
                case 'p':
                        r = str_set(&a.policy, optarg);
                        break;
                case 'P':
                        r = str_set(&a.publish, optarg);
                        break;
                case 'K':
                        r = str_set(&a.pod_logs, optarg);
                        break;
                case 'c':
                        r = str_set(&a.config_file, optarg);
                        break;
                case 'L':
                        r = str_set(&a.log_level, optarg);
                        break;
                case 'h':
                        a.help = true;
                        break;
                case 'V':
                        a.version = true;
                        break;
                case ':':
                        r = errorf(ret_error, "%s: needs a value (see autoprocsd --help)", argv[optind - 1]);
                        break;
                default:
                        r = errorf(ret_error, "%.*s: %s (see autoprocsd --help)",
                                   (int)strcspn(argv[optind - 1], "="), argv[optind - 1],
                                   optopt && strncmp(argv[optind - 1], "--", 2) == 0 ? "takes no value"
                                                                                     : "unknown option");
                        break;
                }
                if (r < 0)
                        goto fail;
        }
        if (optind < argc) {
                r = errorf(ret_error, "\"%s\": unexpected argument (autoprocsd takes options only; see "
                           "autoprocsd --help)", argv[optind]);
                goto fail;
        }
        *ret = a;
        return 0;
fail:
        ap_daemon_args_done(&a);
        return r;
}

void ap_daemon_args_done(ApDaemonArgs *a)
{
        strv_free(a->listen, a->n_listen);
        strv_free(a->targets, a->n_targets);
        free(a->interval);
        free(a->policy);
        free(a->publish);
        free(a->pod_logs);
        free(a->log_level);
        free(a->config_file);
        *a = (ApDaemonArgs){ 0 };
}

/* ---------------------------------------------------------------------------------------------
 * Sources merged into settings
 * ------------------------------------------------------------------------------------------- */

/* The raw settings of one source (strings, not yet validated).  Values read from the config
 * file keep their line number, so that the one validation (apply_*) can name file:line. */
typedef struct Raw {
        char **listen;
        size_t n_listen;
        char **targets;
        size_t n_targets;
        char *interval, *policy, *publish, *log_level, *pod_logs;
        unsigned *listen_lines, *target_lines;
        unsigned interval_line, policy_line, publish_line, log_level_line, pod_logs_line;
} Raw;

static void raw_done(Raw *r)
{
        strv_free(r->listen, r->n_listen);
        strv_free(r->targets, r->n_targets);
        free(r->interval);
        free(r->policy);
        free(r->publish);
        free(r->log_level);
        free(r->pod_logs);
        free(r->listen_lines);
        free(r->target_lines);
        *r = (Raw){ 0 };
}

/* Split a whitespace-separated list into @v. */
static int split_push(char ***v, size_t *n, const char *s)
{
        while (*s) {
                size_t len;
                char *w;
                int r;

                while (isspace((unsigned char)*s))
                        s++;
                if (!*s)
                        break;
                len = strcspn(s, " \t\n");
                w = strndup(s, len);
                if (!w)
                        return -ENOMEM;
                r = strv_push(v, n, w);
                free(w);
                if (r < 0)
                        return r;
                s += len;
        }
        return 0;
}

static int raw_from_env(Raw *r)
{
        const char *s;
        int k;

        if ((s = getenv("AUTOPROCSD_LISTEN")) && (k = split_push(&r->listen, &r->n_listen, s)) < 0)
                return k;
        if ((s = getenv("AUTOPROCSD_TARGETS")) && (k = split_push(&r->targets, &r->n_targets, s)) < 0)
                return k;
        if ((s = getenv("AUTOPROCSD_INTERVAL")) && *s && (k = str_set(&r->interval, s)) < 0)
                return k;
        if ((s = getenv("AUTOPROCSD_POLICY")) && *s && (k = str_set(&r->policy, s)) < 0)
                return k;
        if ((s = getenv("AUTOPROCSD_PUBLISH")) && *s && (k = str_set(&r->publish, s)) < 0)
                return k;
        if ((s = getenv("AUTOPROCSD_LOG_LEVEL")) && *s && (k = str_set(&r->log_level, s)) < 0)
                return k;
        if ((s = getenv("AUTOPROCSD_POD_LOGS")) && *s && (k = str_set(&r->pod_logs, s)) < 0)
                return k;
        return 0;
}

static char *strip(char *s)
{
        char *e;

        while (isspace((unsigned char)*s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

/* A value in matching double or single quotes (as an EnvironmentFile has it) loses them. */
static char *unquote(char *s)
{
        size_t n = strlen(s);

        if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
                s[n - 1] = '\0';
                return s + 1;
        }
        return s;
}

/* Append @value (from @line) to a list and its line numbers. */
static int list_push(char ***v, unsigned **lines, size_t *n, const char *value, unsigned line)
{
        unsigned *nl = realloc(*lines, (*n + 1) * sizeof(**lines));
        int r;

        if (!nl)
                return -ENOMEM;
        *lines = nl;
        nl[*n] = line;
        r = strv_push(v, n, value);
        return r;
}

/* Where the first byte that is not text sits in @s (@len bytes): control characters other than
 * tab (NUL included) and byte sequences that are not UTF-8.  -1 if the line is text. */
static ssize_t binary_at(const unsigned char *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                unsigned char c = s[i];
                size_t n;

                if (c < 0x80) {
                        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
                                return (ssize_t)i;
                        i++;
                        continue;
                }
                n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
                if (n == 0 || i + n > len)
                        return (ssize_t)i;
                for (size_t k = 1; k < n; k++)
                        if ((s[i + k] & 0xc0) != 0x80)
                                return (ssize_t)i;
                i += n;
        }
        return -1;
}

static int raw_from_file(Raw *r, const char *path, char **ret_error)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        unsigned lineno = 0;
        mode_t type = 0;
        char *line, *end, *next;
        int k;

        k = ap_read_regular_file(path, AP_DAEMON_MAX_CONFIG_FILE, &buf, &len, &type);
        if (k == -EBADFD)
                return errorf(ret_error, "config file %s: %s, not a regular file", path,
                              ap_file_type_name(type));
        if (k == -EFBIG)
                return errorf(ret_error, "config file %s: larger than %u KiB", path,
                              AP_DAEMON_MAX_CONFIG_FILE / 1024);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return errorf(ret_error, "config file %s: %s", path, strerror(-k));
        for (line = buf, end = buf + len; line < end; line = next) {
                char *nl = memchr(line, '\n', (size_t)(end - line));
                size_t l = nl ? (size_t)(nl - line) : (size_t)(end - line);
                char *key, *value, *sep;
                ssize_t bad;

                next = nl ? nl + 1 : end;
                lineno++;
                bad = binary_at((const unsigned char *)line, l);
                if (bad >= 0)
                        return errorf(ret_error, "%s:%u: binary data (byte 0x%02x at column %zd), "
                                      "not a text line", path, lineno, (unsigned char)line[bad], bad + 1);
                if (l >= MAX_FILE_LINE)
                        return errorf(ret_error, "%s:%u: line too long", path, lineno);
                line[l] = '\0';
                key = strip(line);
                if (*key == '\0' || *key == '#' || *key == ';')
                        continue;
                sep = key + strcspn(key, "= \t");
                if (*sep == '\0')
                        return errorf(ret_error, "%s:%u: \"%s\" has no value (expected KEY = VALUE)",
                                      path, lineno, key);
                value = sep + strspn(sep, " \t");
                if (*value == '=')
                        value++;
                *sep = '\0';
                value = unquote(strip(value));
                if (*value == '\0')
                        return errorf(ret_error, "%s:%u: %s has an empty value", path, lineno, key);
                if (strcmp(key, "listen") == 0)
                        k = list_push(&r->listen, &r->listen_lines, &r->n_listen, value, lineno);
                else if (strcmp(key, "target") == 0)
                        k = list_push(&r->targets, &r->target_lines, &r->n_targets, value, lineno);
                else if (strcmp(key, "interval") == 0)
                        k = str_set(&r->interval, value), r->interval_line = lineno;
                else if (strcmp(key, "policy") == 0)
                        k = str_set(&r->policy, value), r->policy_line = lineno;
                else if (strcmp(key, "publish") == 0)
                        k = str_set(&r->publish, value), r->publish_line = lineno;
                else if (strcmp(key, "log-level") == 0)
                        k = str_set(&r->log_level, value), r->log_level_line = lineno;
                else if (strcmp(key, "pod-logs") == 0)
                        k = str_set(&r->pod_logs, value), r->pod_logs_line = lineno;
                else
                        return errorf(ret_error, "%s:%u: unknown key \"%s\" (expected listen, target, "
                                      "interval, policy, publish, pod-logs or log-level)", path, lineno, key);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Two addresses that cannot both be bound: 1 the same socket address, 2 [::]:P and 0.0.0.0:P
 * (the wildcard is dual-stack), 0 otherwise.  Port 0 (a free port each) never collides. */
static int listen_overlap(const ApListenAddr *a, const ApListenAddr *b)
{
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->sa, *b4 = (const struct sockaddr_in *)&b->sa;
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->sa, *b6 = (const struct sockaddr_in6 *)&b->sa;
        const struct sockaddr_in *v4;
        const struct sockaddr_in6 *v6;

        if (a4->sin_port != b4->sin_port || a4->sin_port == 0) /* same offset in both families */
                return 0;
        if (a->sa.ss_family == b->sa.ss_family)
                return a->sa.ss_family == AF_INET ? a4->sin_addr.s_addr == b4->sin_addr.s_addr
                                                  : IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr);
        v4 = a->sa.ss_family == AF_INET ? a4 : b4;
        v6 = a->sa.ss_family == AF_INET6 ? a6 : b6;
        return IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr) && v4->sin_addr.s_addr == htonl(INADDR_ANY) ? 2 : 0;
}

/* Where a value came from, for its error line: "--target", "AUTOPROCSD_TARGETS", or
 * "FILE:LINE: target" when @file is set. */
typedef struct Source {
        const char *name;
        const char *file;
        const unsigned *lines;        /* per list entry; NULL: @line */
        unsigned line;
} Source;

static const char *where(const Source *src, size_t i, char *buf, size_t size)
{
        if (!src->file)
                return src->name;
        (void)snprintf(buf, size, "%s:%u: %s", src->file, src->lines ? src->lines[i] : src->line,
                       src->name);
        return buf;
}

/* Validate the winner of each setting; @src names its source for the error line. */
static int apply_listen(ApDaemonConfig *c, char **v, size_t n, const Source *src, char **ret_error)
{
        char buf[PATH_MAX + 64];

        c->listen = calloc(n ? n : 1, sizeof(*c->listen));
        if (!c->listen)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *why;
                int r = ap_listen_addr_parse(v[i], &c->listen[i], &why);

                if (r == -EINVAL)
                        return errorf(ret_error, "%s \"%s\": %s", where(src, i, buf, sizeof(buf)), v[i], why);
                if (r < 0)
                        return r;
                c->n_listen++;
                for (size_t j = 0; j < i; j++) {
                        int o = listen_overlap(&c->listen[j], &c->listen[i]);

                        if (o == 1)
                                return errorf(ret_error, "%s \"%s\": given twice",
                                              where(src, i, buf, sizeof(buf)), v[i]);
                        if (o == 2)
                                return errorf(ret_error, "%s \"%s\" and \"%s\": the same port twice (an "
                                              "IPv6 wildcard [::] takes IPv4 too)",
                                              where(src, i, buf, sizeof(buf)), v[j], v[i]);
                }
        }
        return 0;
}

static int apply_targets(ApDaemonConfig *c, char **v, size_t n, const Source *src, char **ret_error)
{
        static char *const self[] = { (char *)"self" };
        static const Source dflt = { .name = "target" };
        char buf[PATH_MAX + 64];

        if (n == 0) {
                v = (char **)self;
                n = 1;
                src = &dflt;
        }
        c->targets = calloc(n, sizeof(*c->targets));
        if (!c->targets)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *why;
                int r = ap_target_spec_parse(v[i], &c->targets[i], &why);

                if (r == -EINVAL)
                        return errorf(ret_error, "%s \"%s\": %s", where(src, i, buf, sizeof(buf)), v[i], why);
                if (r < 0)
                        return r;
                c->n_targets++;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(c->targets[j].label, c->targets[i].label) == 0)
                                return errorf(ret_error, "%s \"%s\": given twice",
                                              where(src, i, buf, sizeof(buf)), v[i]);
        }
        return 0;
}

/* Two targets must not share one --publish file (one would overwrite the other). */
static int check_publish_names(const ApDaemonConfig *c, char **ret_error)
{
        char a[256], b[256];

        for (size_t i = 0; i < c->n_targets; i++) {
                if (ap_publish_file_name(c->targets[i].label, a, sizeof(a)) < 0)
                        return errorf(ret_error, "--publish: target \"%s\": its file name would be "
                                      "longer than 255 bytes", c->targets[i].label);
                for (size_t j = 0; j < i; j++) {
                        if (ap_publish_file_name(c->targets[j].label, b, sizeof(b)) == 0 &&
                            strcmp(a, b) == 0)
                                return errorf(ret_error, "--publish: targets \"%s\" and \"%s\" would "
                                              "both write %s", c->targets[j].label,
                                              c->targets[i].label, a);
                }
        }
        return 0;
}

int ap_daemon_config_load(const ApDaemonArgs *args, ApDaemonConfig *ret, char **ret_error)
{
        ApDaemonConfig c = {
                .interval_ns = AP_DAEMON_DEFAULT_INTERVAL_NS,
                .policy = AUTOPROCS_POLICY_GO125,
                .log_level = AUTOPROCS_LOG_INFO,
        };
        Raw env = { 0 }, file = { 0 };
        const char *cf = args->config_file ? args->config_file : getenv("AUTOPROCSD_CONFIG");
        const char *s;
        char buf[PATH_MAX + 64];
        Source src;
        int r;

        *ret_error = NULL;
        if (cf && !*cf)
                cf = NULL;
        r = raw_from_env(&env);
        if (r < 0)
                goto fail;
        if (cf) {
                r = str_set(&c.config_file, cf);
                if (r < 0)
                        goto fail;
                r = raw_from_file(&file, cf, ret_error);
                if (r < 0)
                        goto fail;
        }

        if (args->n_listen > 0)
                r = apply_listen(&c, args->listen, args->n_listen, &(Source){ .name = "--listen" }, ret_error);
        else if (env.n_listen > 0)
                r = apply_listen(&c, env.listen, env.n_listen, &(Source){ .name = "AUTOPROCSD_LISTEN" },
                                 ret_error);
        else
                r = apply_listen(&c, file.listen, file.n_listen,
                                 &(Source){ .name = "listen", .file = cf, .lines = file.listen_lines },
                                 ret_error);
        if (r < 0)
                goto fail;

        if (args->n_targets > 0)
                r = apply_targets(&c, args->targets, args->n_targets, &(Source){ .name = "--target" },
                                  ret_error);
        else if (env.n_targets > 0)
                r = apply_targets(&c, env.targets, env.n_targets, &(Source){ .name = "AUTOPROCSD_TARGETS" },
                                  ret_error);
        else
                r = apply_targets(&c, file.targets, file.n_targets,
                                  &(Source){ .name = "target", .file = cf, .lines = file.target_lines },
                                  ret_error);
        if (r < 0)
                goto fail;

        /* The winner of a single setting: command line, environment, file (with its line). */
#define PICK(field, opt, var, key)                                                              \
        (args->field ? (src = (Source){ .name = opt }, args->field) :                          \
         env.field ? (src = (Source){ .name = var }, env.field) :                              \
         file.field ? (src = (Source){ .name = key, .file = cf, .line = file.field##_line },   \
                       file.field) : NULL)

        if ((s = PICK(interval, "--interval", "AUTOPROCSD_INTERVAL", "interval"))) {
                uint64_t ns;

                if (ap_parse_duration_ns(s, &ns) < 0 || ns < AP_DAEMON_MIN_INTERVAL_NS ||
                    ns > AP_DAEMON_MAX_INTERVAL_NS) {
                        r = errorf(ret_error, "%s \"%s\": expected a duration from 100ms to 1h "
                                   "(e.g. 1s, 250ms, 2m)", where(&src, 0, buf, sizeof(buf)), s);
                        goto fail;
                }
                c.interval_ns = ns;
        }
        if ((s = PICK(policy, "--policy", "AUTOPROCSD_POLICY", "policy")) &&
            autoprocs_policy_from_string(s, &c.policy) < 0) {
                r = errorf(ret_error, "%s \"%s\": expected go125, ceil, floor or automaxprocs",
                           where(&src, 0, buf, sizeof(buf)), s);
                goto fail;
        }
        if ((s = PICK(log_level, "--log-level", "AUTOPROCSD_LOG_LEVEL", "log-level")) &&
            ap_daemon_log_level_from_string(s, &c.log_level) < 0) {
                r = errorf(ret_error, "%s \"%s\": expected err, warning, notice, info or debug",
                           where(&src, 0, buf, sizeof(buf)), s);
                goto fail;
        }
        if ((s = PICK(publish, "--publish", "AUTOPROCSD_PUBLISH", "publish"))) {
                r = str_set(&c.publish_dir, s);
                if (r < 0)
                        goto fail;
                r = check_publish_names(&c, ret_error);
                if (r < 0)
                        goto fail;
        }
        if ((s = PICK(pod_logs, "--pod-logs", "AUTOPROCSD_POD_LOGS", "pod-logs"))) {
                if (strcmp(s, "none") != 0 && s[0] != '/') {
                        r = errorf(ret_error, "%s \"%s\": expected an absolute directory (the kubelet's "
                                   "log tree, e.g. /var/log) or none", where(&src, 0, buf, sizeof(buf)), s);
                        goto fail;
                }
                if (strcmp(s, "none") != 0 && (r = str_set(&c.pod_logs_dir, s)) < 0)
                        goto fail;
        } else if (access(AP_DAEMON_DEFAULT_POD_LOGS "/pods", F_OK) == 0) {
                r = str_set(&c.pod_logs_dir, AP_DAEMON_DEFAULT_POD_LOGS);
                if (r < 0)
                        goto fail;
        }
#undef PICK

        raw_done(&env);
        raw_done(&file);
        *ret = c;
        return 0;
fail:
        raw_done(&env);
        raw_done(&file);
        ap_daemon_config_done(&c);
        if (r == -ENOMEM && !*ret_error)
                *ret_error = strdup("out of memory");
        return r;
}

void ap_daemon_config_done(ApDaemonConfig *c)
{
        for (size_t i = 0; i < c->n_listen; i++)
                free(c->listen[i].text);
        free(c->listen);
        for (size_t i = 0; i < c->n_targets; i++)
                ap_target_spec_done(&c->targets[i]);
        free(c->targets);
        free(c->publish_dir);
        free(c->pod_logs_dir);
        free(c->config_file);
        *c = (ApDaemonConfig){ 0 };
}
