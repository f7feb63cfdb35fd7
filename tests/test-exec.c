/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs exec` end to end: the built CLI (path in $AP_CLI) runs `env` and other small
 * commands; the test reads what the child saw.  Uses fixture trees (--root) so the expected count
 * is known: v2-quota-1.5 (1.5 CPUs, 4 CPUs affinity) gives go125 = 2, floor = 1.
 */
#include <signal.h>
#include <sys/wait.h>

#include "tests/ap-test.h"

typedef struct Run {
        int status;      /* as from waitpid */
        pid_t pid;
        char out[16384];
        char err[4096];
} Run;

/* Run the CLI with @argv (NULL-terminated, without argv[0]) in environment @envp (NULL: ours). */
static void run_cli(Run *r, const char *const *args, const char *const *envp)
{
        int out[2], err[2];
        char *argv[64];
        size_t n = 0;
        pid_t pid;

        argv[n++] = (char *)ap_test_cli();
        for (; args[n - 1]; n++)
                argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        ck_assert(pipe(out) == 0 && pipe(err) == 0);
        pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
                dup2(out[1], 1);
                dup2(err[1], 2);
                close(out[0]);
                close(err[0]);
                if (envp)
                        execve(argv[0], argv, (char *const *)envp);
                else
                        execv(argv[0], argv);
                _exit(99);
        }
        close(out[1]);
        close(err[1]);
        ap_test_read_all(out[0], r->out, sizeof(r->out));
        ap_test_read_all(err[0], r->err, sizeof(r->err));
        close(out[0]);
        close(err[0]);
        ck_assert(waitpid(pid, &r->status, 0) == pid);
        r->pid = pid;
}

/* The value of @name in `env` output, or NULL. */
static const char *env_value(const char *out, const char *name, char *buf, size_t size)
{
        size_t nl = strlen(name);

        for (const char *p = out; p && *p;) {
                const char *e = strchr(p, '\n');
                size_t len = e ? (size_t)(e - p) : strlen(p);

                if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
                        snprintf(buf, size, "%.*s", (int)(len - nl - 1), p + nl + 1);
                        return buf;
                }
                p = e ? e + 1 : NULL;
        }
        return NULL;
}

static void expect_var(const Run *r, const char *name, const char *want)
{
        char buf[512];
        const char *v = env_value(r->out, name, buf, sizeof(buf));

        if (!want) {
                ck_assert_msg(v == NULL, "%s=%s should be unset", name, v);
                return;
        }
        ck_assert_msg(v != NULL, "%s not set; stderr: %s", name, r->err);
        ck_assert_msg(strcmp(v, want) == 0, "%s=%s, want %s", name, v, want);
}

static const char *const count_vars[] = { "GOMAXPROCS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS", "UV_THREADPOOL_SIZE",
                                          "AUTOPROCS_PROCS" };

START_TEST(test_sets_every_variable)
{
        const char *args[] = { "exec", "--root", ap_test_fixture_path("v2-quota-1.5"), "--", "env",
                         NULL };
        const char *envp[] = { "PATH=/usr/bin:/bin", "KEEP=me", NULL };
        Run r;

        run_cli(&r, args, envp);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %d, stderr: %s",
                      r.status, r.err);
        for (size_t i = 0; i < sizeof(count_vars) / sizeof(count_vars[0]); i++)
                expect_var(&r, count_vars[i], strcmp(count_vars[i], "UV_THREADPOOL_SIZE") == 0 ? "4" : "2");
        expect_var(&r, "KEEP", "me");
        /* One line on stderr says what was set and why. */
        ck_assert_msg(strncmp(r.err, "autoprocs exec: AUTOPROCS_PROCS=2 GOMAXPROCS=2 ", 47) == 0, "stderr: %s", r.err);
        ck_assert_ptr_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
        ck_assert_ptr_nonnull(strstr(r.err, "2 processors (limit 1.5 CPUs on cgroup /app.slice/app.service"));
        ck_assert_ptr_nonnull(strstr(r.err, "UV_THREADPOOL_SIZE=4 is libuv's default (never fewer)"));
        expect_var(&r, "JAVA_TOOL_OPTIONS", NULL);
}
END_TEST

START_TEST(test_policy_option)
{
        const char *args[] = { "exec", "--policy", "floor", "--root",
                         ap_test_fixture_path("v2-quota-1.5"), "--", "env", NULL };
        const char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        Run r;

        run_cli(&r, args, envp);
        ck_assert_int_eq(WEXITSTATUS(r.status), 0);
        expect_var(&r, "GOMAXPROCS", "1");
        expect_var(&r, "OMP_NUM_THREADS", "1");
}
END_TEST

START_TEST(test_existing_kept_unless_force)
{
        const char *args[] = { "exec", "--root", ap_test_fixture_path("v2-quota-1.5"), "--", "env",
                         NULL };
        const char *forced[] = { "exec", "--force", "--root", ap_test_fixture_path("v2-quota-1.5"),
                           "--", "env", NULL };
        const char *envp[] = { "PATH=/usr/bin:/bin", "GOMAXPROCS=7", "OMP_NUM_THREADS=5", NULL };
        Run r;

        run_cli(&r, args, envp);
        ck_assert_int_eq(WEXITSTATUS(r.status), 0);
        expect_var(&r, "GOMAXPROCS", "7");
        expect_var(&r, "OMP_NUM_THREADS", "5");
        expect_var(&r, "MKL_NUM_THREADS", "2");

        run_cli(&r, forced, envp);
        ck_assert_int_eq(WEXITSTATUS(r.status), 0);
        expect_var(&r, "GOMAXPROCS", "2");
        expect_var(&r, "OMP_NUM_THREADS", "2");
}
END_TEST

START_TEST(test_autoprocs_procs_is_the_count)
{
        /* The operator's AUTOPROCS_PROCS wins over detection and sizes the others too. */
        const char *args[] = { "exec", "--root", ap_test_fixture_path("v2-quota-1.5"), "--", "env",
                         NULL };
        const char *envp[] = { "PATH=/usr/bin:/bin", "AUTOPROCS_PROCS=3", NULL };
        Run r;

        run_cli(&r, args, envp);
        ck_assert_int_eq(WEXITSTATUS(r.status), 0);
        expect_var(&r, "GOMAXPROCS", "3");
        expect_var(&r, "UV_THREADPOOL_SIZE", "4");     /* never below libuv's 4 */
        expect_var(&r, "AUTOPROCS_PROCS", "3");
        ck_assert_ptr_nonnull(strstr(r.err, "(AUTOPROCS_PROCS)"));
}
END_TEST

START_TEST(test_java)
{
        const char *args[] = { "exec", "--java", "--root", ap_test_fixture_path("v2-quota-1.5"),
                         "--", "env", NULL };
        const char *forced[] = { "exec", "--java", "--force", "--root",
                           ap_test_fixture_path("v2-quota-1.5"), "--", "env", NULL };
        const char *envp1[] = { "PATH=/usr/bin:/bin", NULL };
        const char *envp2[] = { "PATH=/usr/bin:/bin", "JAVA_TOOL_OPTIONS=-Xmx1g  -XX:+UseG1GC", NULL };
        const char *envp3[] = { "PATH=/usr/bin:/bin",
                          "JAVA_TOOL_OPTIONS=-XX:ActiveProcessorCount=9 -Xss1m", NULL };
        Run r;

        run_cli(&r, args, envp1);
        expect_var(&r, "JAVA_TOOL_OPTIONS", "-XX:ActiveProcessorCount=2");
        run_cli(&r, args, envp2);
        expect_var(&r, "JAVA_TOOL_OPTIONS", "-Xmx1g  -XX:+UseG1GC -XX:ActiveProcessorCount=2");
        run_cli(&r, args, envp3);
        expect_var(&r, "JAVA_TOOL_OPTIONS", "-XX:ActiveProcessorCount=9 -Xss1m");
        run_cli(&r, forced, envp3);
        expect_var(&r, "JAVA_TOOL_OPTIONS", "-Xss1m -XX:ActiveProcessorCount=2");
}
END_TEST

START_TEST(test_exec_keeps_pid_and_status)
{
        /* An exec, not a child: the shell's $$ is the pid we forked, its exit code is ours. */
        const char *args[] = { "exec", "--", "sh", "-c", "echo $$; exit 3", NULL };
        char want[32];
        Run r;

        run_cli(&r, args, NULL);
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3, "status %d", r.status);
        snprintf(want, sizeof(want), "%d\n", (int)r.pid);
        ck_assert_str_eq(r.out, want);
}
END_TEST

START_TEST(test_signal_passes_through)
{
        const char *args[] = { "exec", "--", "sh", "-c", "kill -TERM $$", NULL };
        Run r;

        run_cli(&r, args, NULL);
        ck_assert_msg(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "status %d",
                      r.status);
}
END_TEST

START_TEST(test_not_found)
{
        const char *args[] = { "exec", "--quiet", "--", "autoprocs-no-such-command-xyz", NULL };
        Run r;

        run_cli(&r, args, NULL);
        ck_assert_int_eq(WEXITSTATUS(r.status), 127);
        ck_assert_ptr_nonnull(strstr(r.err, "autoprocs-no-such-command-xyz"));
        /* One line. */
        ck_assert_ptr_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
}
END_TEST

START_TEST(test_bad_usage)
{
        const char *no_cmd[] = { "exec", NULL };
        const char *bad_policy[] = { "exec", "--policy", "round", "--", "true", NULL };
        const char *bad_min[] = { "exec", "--min", "-1", "--", "true", NULL };
        const char *bad_reserve[] = { "exec", "--reserve", "0.00001", "--", "true", NULL };
        const char **cases[] = { no_cmd, bad_policy, bad_min, bad_reserve };
        Run r;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                run_cli(&r, cases[i], NULL);
                ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 125,
                              "case %zu: status %d", i, r.status);
                ck_assert_msg(strstr(r.err, "autoprocs exec") != NULL, "case %zu: '%s'", i, r.err);
        }
}
END_TEST

START_TEST(test_uv_pool_and_quiet)
{
        const char *many[] = { "exec", "--quiet", "--", "env", NULL };
        const char *envp[] = { "PATH=/usr/bin:/bin", "AUTOPROCS_PROCS=6", NULL };
        const char *kept[] = { "PATH=/usr/bin:/bin", "AUTOPROCS_PROCS=6", "OMP_NUM_THREADS=1", NULL };
        const char *loud[] = { "exec", "--", "env", NULL };
        Run r;

        run_cli(&r, many, envp);
        ck_assert_int_eq(WEXITSTATUS(r.status), 0);
        expect_var(&r, "UV_THREADPOOL_SIZE", "6");     /* above 4: the count */
        ck_assert_str_eq(r.err, "");                   /* --quiet */
        run_cli(&r, loud, kept);
        expect_var(&r, "OMP_NUM_THREADS", "1");
        ck_assert_msg(strstr(r.err, "; kept AUTOPROCS_PROCS=6 OMP_NUM_THREADS=1 (already set; --force replaces)") != NULL, "%s", r.err);
}
END_TEST

/*
 * A fake Go executable: /usr/bin/env with a .go.buildinfo section saying @version (objcopy), so
 * that it runs and prints the environment it got.  Returns the malloc'd directory holding "go-env".
 */
static char *fake_go(const char *version)
{
        char *dir = ap_test_fixture_copy(NULL);
        char blob[128] = "\xff Go buildinf:";
        char path[4096], cmd[8192];
        size_t n = strlen(version);
        FILE *f;

        blob[14] = 8;
        blob[15] = 2;                 /* inline version (Go 1.18+) */
        blob[32] = (char)n;
        memcpy(blob + 33, version, n);
        blob[33 + n] = 0;
        snprintf(path, sizeof(path), "%s/buildinfo", dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(blob, 1, 34 + n, f), 34 + n);
        ck_assert_int_eq(fclose(f), 0);
        snprintf(cmd, sizeof(cmd), "objcopy --add-section .go.buildinfo='%s' /usr/bin/env '%s/go-env'", path, dir);
        ck_assert_msg(system(cmd) == 0, "objcopy failed: %s", cmd);
        return dir;
}

/* Run `exec ARGS... -- DIR/go-env` for @version on @fixture. */
static void run_fake_go(Run *r, const char *version, const char *fixture, const char *policy)
{
        char *dir = fake_go(version);
        char exe[4096], root[4096];
        const char *envp[] = { "PATH=/usr/bin:/bin", NULL };

        snprintf(exe, sizeof(exe), "%s/go-env", dir);
        snprintf(root, sizeof(root), "%s", ap_test_fixture_path(fixture));
        {
                const char *args[] = { "exec", "--policy", policy, "--root", root, "--", exe, NULL };

                run_cli(r, args, envp);
        }
        ck_assert_msg(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0, "status %d: %s", r->status, r->err);
        ap_test_rmtree(dir);
}

START_TEST(test_go125_agrees_left_unset)
{
        /* Leaf limit 1.5, affinity 4: Go 1.25 says min(4, max(2, 2)) = 2, as go125 does. */
        Run r;

        run_fake_go(&r, "go1.25.0", "v2-quota-1.5", "go125");
        expect_var(&r, "GOMAXPROCS", NULL);
        expect_var(&r, "OMP_NUM_THREADS", "2");
        ck_assert_msg(strstr(r.err, "GOMAXPROCS left to go1.25.0: it finds 2 itself and follows the limit live"),
                      "%s", r.err);
        ck_assert_ptr_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
}
END_TEST

START_TEST(test_go125_wrong_set)
{
        Run r;

        /* Another policy: Go would choose 2, floor says 1. */
        run_fake_go(&r, "go1.25.3", "v2-quota-1.5", "floor");
        expect_var(&r, "GOMAXPROCS", "1");
        ck_assert_msg(strstr(r.err, "GOMAXPROCS set for go1.25.3: Go would choose 2, the policy here 1"), "%s", r.err);
        /* The limit is on an ancestor, which Go does not read. */
        run_fake_go(&r, "go1.26.0", "v2-nested-parent-lower", "go125");
        expect_var(&r, "GOMAXPROCS", "2");
        ck_assert_msg(strstr(r.err, "the limit is on /kubepods.slice/pod1, above its cgroup "
                                    "/kubepods.slice/pod1/ctr, and Go reads only its own cgroup"), "%s", r.err);
        /* Before 1.25 Go reads no limit at all. */
        run_fake_go(&r, "go1.19.8", "v2-quota-1.5", "go125");
        expect_var(&r, "GOMAXPROCS", "2");
        ck_assert_msg(strstr(r.err, "go1.19.8 is older than go1.25, which reads no CPU limits itself"), "%s", r.err);
}
END_TEST

START_TEST(test_real_go_program)
{
        /* A real Go program built here (Debian's golang-go) sees the GOMAXPROCS we set. */
        char *dir = ap_test_fixture_copy(NULL);
        char cmd[8192], exe[4096];
        const char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        Run r;

        if (system("command -v go >/dev/null 2>&1") != 0) {
                fprintf(stderr, "SKIP: no Go toolchain (golang-go): the real Go program case\n");
                ap_test_rmtree(dir);
                return;
        }
        ap_test_write(dir, "main.go",
                      "package main\nimport (\"fmt\"; \"os\"; \"runtime\")\n"
                      "func main() { fmt.Printf(\"env=%s runtime=%d\\n\", os.Getenv(\"GOMAXPROCS\"), "
                      "runtime.GOMAXPROCS(0)) }\n");
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && HOME='%s' GOCACHE='%s/cache' GOPATH='%s/gopath' GO111MODULE=off GOFLAGS= "
                 "go build -o prog main.go", dir, dir, dir, dir);
        ck_assert_msg(system(cmd) == 0, "go build failed");
        snprintf(exe, sizeof(exe), "%s/prog", dir);
        {
                const char *args[] = { "exec", "--policy", "floor", "--root", ap_test_fixture_path("v2-quota-1.5"),
                                       "--", exe, NULL };

                run_cli(&r, args, envp);
        }
        ck_assert_msg(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %d: %s", r.status, r.err);
        ck_assert_str_eq(r.out, "env=1 runtime=1\n");
        ck_assert_msg(strstr(r.err, "is older than go1.25") != NULL, "%s", r.err);
        ap_test_rmtree(dir);
}
END_TEST

START_TEST(test_live_system)
{
        /* The real machine: every variable is a positive count. */
        const char *args[] = { "exec", "--", "env", NULL };
        const char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        char buf[64];
        const char *v;
        Run r;

        run_cli(&r, args, envp);
        ck_assert_int_eq(WEXITSTATUS(r.status), 0);
        v = env_value(r.out, "GOMAXPROCS", buf, sizeof(buf));
        ck_assert_ptr_nonnull(v);
        ck_assert_int_ge(atoi(v), 1);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("exec");
        TCase *tc = tcase_create("exec");

        tcase_add_test(tc, test_sets_every_variable);
        tcase_add_test(tc, test_policy_option);
        tcase_add_test(tc, test_existing_kept_unless_force);
        tcase_add_test(tc, test_autoprocs_procs_is_the_count);
        tcase_add_test(tc, test_java);
        tcase_add_test(tc, test_exec_keeps_pid_and_status);
        tcase_add_test(tc, test_signal_passes_through);
        tcase_add_test(tc, test_not_found);
        tcase_add_test(tc, test_bad_usage);
        tcase_add_test(tc, test_uv_pool_and_quiet);
        tcase_add_test(tc, test_go125_agrees_left_unset);
        tcase_add_test(tc, test_go125_wrong_set);
        tcase_add_test(tc, test_real_go_program);
        tcase_add_test(tc, test_live_system);
        tcase_set_timeout(tc, 180); /* building a Go program on a loaded machine */
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
