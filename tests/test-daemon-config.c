/* SPDX-License-Identifier: MIT */
/*
 * daemon/autoprocsd/daemon-config.c and daemon/common/publish.c, pure parts: target specs, listen addresses, command line,
 * config file precedence, publish file names and content.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include "daemon/autoprocsd/daemon-config.h"
#include "daemon/common/publish.h"
#include "tests/ap-test.h"

START_TEST(test_target_spec)
{
        static const struct {
                const char *s;
                int r;
                ApTargetKind kind;
                int pid;
                const char *path;
        } t[] = {
                { "self", 0, AP_TARGET_SELF, 0, NULL },
                { "pid:1", 0, AP_TARGET_PID, 1, NULL },
                { "pid:2147483647", 0, AP_TARGET_PID, 2147483647, NULL },
                { "pid:0", -EINVAL, 0, 0, NULL },
                { "pid:-1", -EINVAL, 0, 0, NULL },
                { "pid:2147483648", -EINVAL, 0, 0, NULL },
                { "pid:", -EINVAL, 0, 0, NULL },
                { "cgroup:/sys/fs/cgroup/cpu,cpuacct/x", 0, AP_TARGET_CGROUP, 0, "/sys/fs/cgroup/cpu,cpuacct/x" },
                { "cgroup:x", -EINVAL, 0, 0, NULL },
                { "cgroup:/sys/fs/cgroup/../cpu", -EINVAL, 0, 0, NULL },
                { "cgroup:/sys/fs/cgroup/cpu/..", -EINVAL, 0, 0, NULL },
                { "cgroup:/sys/fs/cgroup/a..b", 0, AP_TARGET_CGROUP, 0, "/sys/fs/cgroup/a..b" },
                { "cgroup:", -EINVAL, 0, 0, NULL },
                { "root:fixtures/a", 0, AP_TARGET_ROOT, 0, "fixtures/a" },
                { "root:", -EINVAL, 0, 0, NULL },
                { "comm:app", 0, AP_TARGET_COMM, 0, "app" },
                { "comm:0123456789abcde", 0, AP_TARGET_COMM, 0, "0123456789abcde" },
                { "comm:0123456789abcdef", -EINVAL, 0, 0, NULL },
                { "comm:a/b", -EINVAL, 0, 0, NULL },
                { "root:/a\nb", -EINVAL, 0, 0, NULL },
                { "Self", -EINVAL, 0, 0, NULL },
                { "", -EINVAL, 0, 0, NULL },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                ApTargetSpec spec = { 0 };
                const char *why = NULL;
                int r = ap_target_spec_parse(t[i].s, &spec, &why);

                ck_assert_msg(r == t[i].r, "'%s': %d", t[i].s, r);
                if (r < 0) {
                        ck_assert_ptr_nonnull(why);
                        continue;
                }
                ck_assert_int_eq(spec.kind, t[i].kind);
                ck_assert_int_eq(spec.pid, t[i].pid);
                ck_assert_str_eq(spec.label, t[i].s);
                if (t[i].path)
                        ck_assert_str_eq(spec.path, t[i].path);
                ap_target_spec_done(&spec);
        }
}
END_TEST

START_TEST(test_listen_addr)
{
        static const struct {
                const char *s;
                int r, family;
                unsigned port;
        } t[] = {
                { "127.0.0.1:9464", 0, AF_INET, 9464 },
                { "0.0.0.0:0", 0, AF_INET, 0 },
                { "[::1]:9464", 0, AF_INET6, 9464 },
                { "[::]:1", 0, AF_INET6, 1 },
                { "127.0.0.1:65535", 0, AF_INET, 65535 },
                { "127.0.0.1:65536", -EINVAL, 0, 0 },
                { "127.0.0.1", -EINVAL, 0, 0 },
                { ":9464", -EINVAL, 0, 0 },
                { "localhost:9464", -EINVAL, 0, 0 },
                { "::1:9464", -EINVAL, 0, 0 },
                { "[::1]9464", -EINVAL, 0, 0 },
                { "[::1:9464", -EINVAL, 0, 0 },
                { "[]:9464", -EINVAL, 0, 0 },
                { "127.0.0.1:-1", -EINVAL, 0, 0 },
                { "127.0.0.1:", -EINVAL, 0, 0 },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                ApListenAddr a = { 0 };
                const char *why = NULL;
                int r = ap_listen_addr_parse(t[i].s, &a, &why);

                ck_assert_msg(r == t[i].r, "'%s': %d", t[i].s, r);
                if (r < 0) {
                        ck_assert_ptr_nonnull(why);
                        continue;
                }
                ck_assert_int_eq(a.sa.ss_family, t[i].family);
                if (t[i].family == AF_INET)
                        ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&a.sa)->sin_port), t[i].port);
                else
                        ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&a.sa)->sin6_port), t[i].port);
                ck_assert_str_eq(a.text, t[i].s);
                free(a.text);
        }
}
END_TEST

/* Parse @argv (NULL-terminated; copied, getopt permutes) and load a configuration. */
static int load(const char *const *argv, int argc, ApDaemonConfig *c, char **err)
{
        char *copy[16] = { NULL };
        ApDaemonArgs a;
        int r;

        ck_assert(argc < 16);
        for (int i = 0; i < argc; i++)
                copy[i] = strdup(argv[i]);
        r = ap_daemon_args_parse(argc, copy, &a, err);
        if (r >= 0) {
                r = ap_daemon_config_load(&a, c, err);
                ap_daemon_args_done(&a);
        }
        for (int i = 0; i < argc; i++)
                free(copy[i]);
        return r;
}

START_TEST(test_precedence)
{
        char *dir = ap_test_fixture_copy(NULL), file[4200], *err = NULL;
        ApDaemonConfig c;

        unsetenv("AUTOPROCSD_TARGETS");
        unsetenv("AUTOPROCSD_INTERVAL");
        unsetenv("AUTOPROCSD_LISTEN");
        unsetenv("AUTOPROCSD_POLICY");
        ap_test_write(dir, "a.conf", "# c\n\ninterval = 250ms\ntarget = pid:7\ntarget root:/x\n"
                                     "policy=floor\nlog-level = debug\n");
        snprintf(file, sizeof(file), "%s/a.conf", dir);

        /* Defaults. */
        {
                const char *argv[] = { "autoprocsd", NULL };

                ck_assert_int_eq(load(argv, 1, &c, &err), 0);
                ck_assert_uint_eq(c.n_targets, 1);
                ck_assert_str_eq(c.targets[0].label, "self");
                ck_assert_uint_eq(c.n_listen, 0);
                ck_assert(c.interval_ns == 1000000000ull);
                ck_assert_int_eq(c.policy, AUTOPROCS_POLICY_GO125);
                ap_daemon_config_done(&c);
        }
        /* The file. */
        {
                const char *argv[] = { "autoprocsd", "--config", file, NULL };

                ck_assert_int_eq(load(argv, 3, &c, &err), 0);
                ck_assert_uint_eq(c.n_targets, 2);
                ck_assert_str_eq(c.targets[0].label, "pid:7");
                ck_assert_str_eq(c.targets[1].label, "root:/x");
                ck_assert(c.interval_ns == 250000000ull);
                ck_assert_int_eq(c.policy, AUTOPROCS_POLICY_FLOOR);
                ck_assert_int_eq(c.log_level, AUTOPROCS_LOG_DEBUG);
                ap_daemon_config_done(&c);
        }
        /* Environment beats the file, the command line beats both. */
        setenv("AUTOPROCSD_TARGETS", "  self\tpid:9 ", 1);
        setenv("AUTOPROCSD_INTERVAL", "2s", 1);
        {
                const char *argv[] = { "autoprocsd", "--config", file, "--interval", "3s", NULL };

                ck_assert_int_eq(load(argv, 5, &c, &err), 0);
                ck_assert_uint_eq(c.n_targets, 2);
                ck_assert_str_eq(c.targets[1].label, "pid:9");
                ck_assert(c.interval_ns == 3000000000ull);
                ck_assert_int_eq(c.policy, AUTOPROCS_POLICY_FLOOR);
                ap_daemon_config_done(&c);
        }
        {
                const char *argv[] = { "autoprocsd", "--config", file, "--target", "cgroup:/a", NULL };

                ck_assert_int_eq(load(argv, 5, &c, &err), 0);
                ck_assert_uint_eq(c.n_targets, 1);
                ck_assert_str_eq(c.targets[0].label, "cgroup:/a");
                ck_assert(c.interval_ns == 2000000000ull);
                ap_daemon_config_done(&c);
        }
        unsetenv("AUTOPROCSD_TARGETS");
        unsetenv("AUTOPROCSD_INTERVAL");

        /* Errors name the file and line. */
        ap_test_write(dir, "b.conf", "target = self\n\ninterval = fast\n");
        snprintf(file, sizeof(file), "%s/b.conf", dir);
        {
                const char *argv[] = { "autoprocsd", "--config", file, NULL };

                ck_assert_int_eq(load(argv, 3, &c, &err), -EINVAL);
                ck_assert_ptr_nonnull(err);
                ck_assert_msg(strstr(err, "b.conf:3: interval \"fast\"") != NULL, "%s", err);
                ck_assert_ptr_null(strchr(err, '\n'));
                free(err);
                err = NULL;
        }
        ap_test_write(dir, "c.conf", "target\n");
        snprintf(file, sizeof(file), "%s/c.conf", dir);
        {
                const char *argv[] = { "autoprocsd", "--config", file, NULL };

                ck_assert_int_eq(load(argv, 3, &c, &err), -EINVAL);
                ck_assert_msg(strstr(err, "c.conf:1:") != NULL, "%s", err);
                free(err);
                err = NULL;
        }
        {
                const char *argv[] = { "autoprocsd", "--target", NULL };

                ck_assert_int_eq(load(argv, 2, &c, &err), -EINVAL);
                ck_assert_msg(strstr(err, "--target: needs a value") != NULL, "%s", err);
                free(err);
        }
        ap_test_rmtree(dir);
}
END_TEST

/* A repeated --listen (the image's default and a manifest's once both said [::]:9464) is refused
 * at parse time with one line, as a repeated target is; the dual-stack overlap too. */
START_TEST(test_listen_repeated)
{
        static const struct {
                const char *a, *b, *err; /* err NULL: both accepted */
        } t[] = {
                { "[::]:9464", "[::]:9464", "--listen \"[::]:9464\": given twice" },
                { "127.0.0.1:9464", "127.0.0.1:9464", "given twice" },
                { "[::1]:80", "[0:0::1]:80", "given twice" },        /* the same address spelt twice */
                { "[::]:9464", "0.0.0.0:9464", "takes IPv4 too" },
                { "0.0.0.0:9464", "[::]:9464", "takes IPv4 too" },
                { "127.0.0.1:0", "127.0.0.1:0", NULL },               /* two free ports */
                { "127.0.0.1:9464", "[::1]:9464", NULL },
                { "[::]:9464", "127.0.0.1:9464", NULL },              /* bind decides (EADDRINUSE) */
                { "127.0.0.1:9464", "127.0.0.1:9465", NULL },
        };
        ApDaemonConfig c;

        unsetenv("AUTOPROCSD_LISTEN");
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                const char *argv[] = { "autoprocsd", "--listen", t[i].a, "--listen", t[i].b, NULL };
                char *err = NULL;
                int r = load(argv, 5, &c, &err);

                if (!t[i].err) {
                        ck_assert_msg(r == 0, "%s %s: %s", t[i].a, t[i].b, err ? err : "?");
                        ck_assert_uint_eq(c.n_listen, 2);
                        ap_daemon_config_done(&c);
                        continue;
                }
                ck_assert_msg(r == -EINVAL, "%s %s accepted", t[i].a, t[i].b);
                ck_assert_msg(err && strstr(err, t[i].err), "%s %s: %s", t[i].a, t[i].b, err ? err : "(none)");
                ck_assert_ptr_null(strchr(err, '\n'));
                free(err);
        }
        /* The environment's list (the image sets AUTOPROCSD_LISTEN) is checked the same way. */
        setenv("AUTOPROCSD_LISTEN", "[::]:9464 [::]:9464", 1);
        {
                const char *argv[] = { "autoprocsd", NULL };
                char *err = NULL;

                ck_assert_int_eq(load(argv, 1, &c, &err), -EINVAL);
                ck_assert_msg(err && strstr(err, "AUTOPROCSD_LISTEN \"[::]:9464\": given twice"), "%s", err);
                free(err);
        }
        /* A --listen replaces the environment's whole list: no collision with the image default. */
        {
                const char *argv[] = { "autoprocsd", "--listen", "[::]:9464", NULL };
                char *err = NULL;

                ck_assert_int_eq(load(argv, 3, &c, &err), 0);
                ck_assert_uint_eq(c.n_listen, 1);
                ap_daemon_config_done(&c);
        }
        unsetenv("AUTOPROCSD_LISTEN");
}
END_TEST

/* The config file holds text only, is read once and each error names file:line (or the file). */
START_TEST(test_file_garbage)
{
        static const struct {
                const char *content;
                size_t len;
                const char *error;
        } t[] = {
#define T(s) s, sizeof(s) - 1
                { T("\0\0\0\0"), "bad.conf:1: binary data (byte 0x00 at column 1)" },
                { T("target = self\ntarget = pid:1\0\n"), "bad.conf:2: binary data (byte 0x00 at column 15)" },
                { T("interval = 1s\x1b[0m\n"), "bad.conf:1: binary data (byte 0x1b" },
                { T("target = root:/caf\xe9\n"), "bad.conf:1: binary data (byte 0xe9" },
                { T("target = self\ntarget = cgroup:/a/../b\n"), "bad.conf:2: target \"cgroup:/a/../b\"" },
                { T("target = self\n\ntarget = self\n"), "bad.conf:3: target \"self\": given twice" },
                { T("log-level = loud\n"), "bad.conf:1: log-level \"loud\"" },
#undef T
        };
        char *dir = ap_test_fixture_copy(NULL), file[4200], *err = NULL;
        ApDaemonConfig c;

        unsetenv("AUTOPROCSD_TARGETS");
        snprintf(file, sizeof(file), "%s/bad.conf", dir);
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                const char *argv[] = { "autoprocsd", "--config", file, NULL };
                FILE *f = fopen(file, "we");

                ck_assert_ptr_nonnull(f);
                ck_assert_uint_eq(fwrite(t[i].content, 1, t[i].len, f), t[i].len);
                fclose(f);
                ck_assert_int_eq(load(argv, 3, &c, &err), -EINVAL);
                ck_assert_msg(err && strstr(err, t[i].error), "%zu: %s", i, err);
                ck_assert_ptr_null(strchr(err, '\n'));
                free(err);
                err = NULL;
        }
        /* Not a regular file: refused at once (a FIFO would block a plain open). */
        snprintf(file, sizeof(file), "%s/fifo.conf", dir);
        ck_assert_int_eq(mkfifo(file, 0600), 0);
        {
                const char *argv[] = { "autoprocsd", "--config", file, NULL };

                ck_assert_int_eq(load(argv, 3, &c, &err), -EINVAL);
                ck_assert_msg(err && strstr(err, "fifo.conf: a FIFO, not a regular file"), "%s", err);
                free(err);
                err = NULL;
        }
        {
                const char *argv[] = { "autoprocsd", "--config", dir, NULL };

                ck_assert_int_eq(load(argv, 3, &c, &err), -EINVAL);
                ck_assert_msg(err && strstr(err, "a directory, not a regular file"), "%s", err);
                free(err);
                err = NULL;
        }
        /* Two targets whose --publish files would be one: refused, naming both. */
        {
                const char *argv[] = { "autoprocsd", "--publish", dir, "--target", "root:/t/a/b",
                                       "--target", "root:/t/a_b", NULL };

                ck_assert_int_eq(load(argv, 7, &c, &err), -EINVAL);
                ck_assert_msg(err && strstr(err, "\"root:/t/a/b\" and \"root:/t/a_b\" would both write "
                                            "root__t_a_b.env"), "%s", err);
                free(err);
                err = NULL;
        }
        {
                const char *argv[] = { "autoprocsd", "--target", "root:/t/a/b", "--target", "root:/t/a_b", NULL };

                ck_assert_int_eq(load(argv, 5, &c, &err), 0);
                ap_daemon_config_done(&c);
        }
        ap_test_rmtree(dir);
}
END_TEST

START_TEST(test_publish)
{
        char name[256], *dir, *content, path[4300], buf[512];
        ApPublishDir *pd = NULL;
        struct stat st;
        FILE *f;
        size_t n;

        ck_assert_int_eq(ap_publish_file_name("self", name, sizeof(name)), 0);
        ck_assert_str_eq(name, "self.env");
        ck_assert_int_eq(ap_publish_file_name("pid:42", name, sizeof(name)), 0);
        ck_assert_str_eq(name, "pid_42.env");
        ck_assert_int_eq(ap_publish_file_name("cgroup:/sys/fs/cgroup/cpu,cpuacct/a b", name, sizeof(name)), 0);
        ck_assert_str_eq(name, "cgroup__sys_fs_cgroup_cpu_cpuacct_a_b.env");
        ck_assert_int_eq(ap_publish_file_name("..", name, sizeof(name)), 0);
        ck_assert_str_eq(name, "_..env");
        memset(buf, 'x', 300);
        buf[300] = '\0';
        ck_assert_int_eq(ap_publish_file_name(buf, name, sizeof(name)), -ENAMETOOLONG);

        content = ap_publish_content("pid:\n42", 3, true, 2.5);
        ck_assert_ptr_nonnull(content);
        ck_assert_str_eq(content, "# written by autoprocsd for target pid: 42\n"
                                  "AUTOPROCS_PROCS=3\nGOMAXPROCS=3\nOMP_NUM_THREADS=3\n"
                                  "OPENBLAS_NUM_THREADS=3\nMKL_NUM_THREADS=3\nUV_THREADPOOL_SIZE=3\n"
                                  "AUTOPROCS_LIMIT_CPUS=2.500\n");
        dir = ap_test_fixture_copy(NULL);
        ck_assert_int_eq(ap_publish_dir_open(dir, &pd), 0);
        ck_assert_int_eq(ap_publish_write(pd, "pid:42", content), 0);
        snprintf(path, sizeof(path), "%s/pid_42.env", dir);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        ck_assert_str_eq(buf, content);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0644);
        /* A symlink planted at the final name is replaced, its target never written. */
        snprintf(path, sizeof(path), "%s/outside", dir);
        ap_test_write(dir, "outside", "secret\n");
        ck_assert_int_eq(chmod(path, 0600), 0);
        snprintf(path, sizeof(path), "%s/self.env", dir);
        ck_assert_int_eq(symlink("outside", path), 0);
        ck_assert_int_eq(ap_publish_write(pd, "self", content), 0);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        snprintf(path, sizeof(path), "%s/outside", dir);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(st.st_size, 7);
        free(content);
        pd = ap_publish_dir_unref(pd);
        ck_assert_int_lt(ap_publish_dir_open("/nonexistent-dir", &pd), 0);
        /* The directory itself must not be a symlink. */
        snprintf(path, sizeof(path), "%s/link", dir);
        ck_assert_int_eq(symlink(".", path), 0);
        ck_assert_int_eq(ap_publish_dir_open(path, &pd), -ELOOP);
        ap_test_rmtree(dir);
}
END_TEST

static Suite *config_suite(void)
{
        Suite *s = suite_create("daemon-config");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_target_spec);
        tcase_add_test(tc, test_listen_addr);
        tcase_add_test(tc, test_listen_repeated);
        tcase_add_test(tc, test_precedence);
        tcase_add_test(tc, test_file_garbage);
        tcase_add_test(tc, test_publish);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(config_suite());
}
