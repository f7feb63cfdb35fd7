/* SPDX-License-Identifier: MIT */
/*
 * test-api: links the SHARED library, as an application would, and checks the ABI:
 *   - the three lists of public names agree: the functions declared AUTOPROCS_API in the header,
 *     the version script lib/libautoprocs.sym, and what the built library exports (nm -D), all in
 *     version AUTOPROCS_0.1, and nothing else exported;
 *   - this program itself references every exported function (nm -u on its own binary), and the
 *     cases below call each one, through its documented success and caller-error paths;
 *   - the size-versioned output structs: a short size is refused, a longer one zero-filled;
 *   - caller errors come back as -EINVAL (or the documented errno), never as an abort.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "autoprocs.h"

#if !defined(AP_SHARED_LIB) || !defined(AP_PUBLIC_HEADER) || !defined(AP_SYMBOL_MAP) || \
        !defined(AP_FIXTURES)
#error "AP_SHARED_LIB, AP_PUBLIC_HEADER, AP_SYMBOL_MAP and AP_FIXTURES must be defined"
#endif

#define MS 1000000ull

/* ---- name lists ---------------------------------------------------------------------------- */

typedef struct Names {
        char **v;
        size_t n;
} Names;

static void names_add(Names *l, const char *name, size_t len)
{
        l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
        ck_assert_ptr_nonnull(l->v);
        l->v[l->n] = strndup(name, len);
        ck_assert_ptr_nonnull(l->v[l->n]);
        l->n++;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_sort(Names *l)
{
        qsort(l->v, l->n, sizeof(*l->v), cmp_str);
}

static bool names_has(const Names *l, const char *name)
{
        return bsearch(&name, l->v, l->n, sizeof(*l->v), cmp_str) != NULL;
}

static void names_free(Names *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (Names){ 0 };
}

/* Each autoprocs_ word followed by "(" on a line that starts with AUTOPROCS_API. */
static Names header_names(void)
{
        FILE *f = fopen(AP_PUBLIC_HEADER, "re");
        char line[1024];
        Names l = { 0 };

        ck_assert_msg(f != NULL, "%s: %s", AP_PUBLIC_HEADER, strerror(errno));
        while (fgets(line, sizeof(line), f)) {
                char *open = strchr(line, '('), *name;

                if (strncmp(line, "AUTOPROCS_API ", 14) != 0 || !open)
                        continue;
                for (name = open; name > line && (name[-1] == '_' || (name[-1] >= 'a' && name[-1] <= 'z') ||
                                                  (name[-1] >= '0' && name[-1] <= '9'));)
                        name--;
                ck_assert_msg(strncmp(name, "autoprocs_", 10) == 0, "header: public name %.*s",
                              (int)(open - name), name);
                names_add(&l, name, (size_t)(open - name));
        }
        fclose(f);
        names_sort(&l);
        return l;
}

/* The names in the version script's global: section. */
static Names map_names(void)
{
        FILE *f = fopen(AP_SYMBOL_MAP, "re");
        char line[1024];
        bool global = false;
        Names l = { 0 };

        ck_assert_msg(f != NULL, "%s: %s", AP_SYMBOL_MAP, strerror(errno));
        while (fgets(line, sizeof(line), f)) {
                char *s = line + strspn(line, " \t");
                size_t len = strcspn(s, ";\n");

                if (strncmp(s, "global:", 7) == 0) {
                        global = true;
                        continue;
                }
                if (strncmp(s, "local:", 6) == 0)
                        global = false;
                if (!global || len == 0 || s[0] == '/' || s[0] == '*')
                        continue;
                ck_assert_msg(strcspn(s, "*?[") >= len, "%s: a glob (%.*s): list each name",
                              AP_SYMBOL_MAP, (int)len, s);
                names_add(&l, s, len);
        }
        fclose(f);
        names_sort(&l);
        return l;
}

/* Run nm with @args on @file; each symbol's name (without @version) and its version. */
static Names nm_names(const char *args, const char *file, bool with_version)
{
        char cmd[4096], line[1024];
        Names l = { 0 };
        FILE *p;

        snprintf(cmd, sizeof(cmd), "nm %s '%s'", args, file);
        p = popen(cmd, "r");
        ck_assert_msg(p != NULL, "cannot run nm");
        while (fgets(line, sizeof(line), p)) {
                char *name = strrchr(line, ' ');
                size_t len;

                if (!name)
                        continue;
                name++;
                len = strcspn(name, with_version ? "\n" : "@\n");
                if (len > 0)
                        names_add(&l, name, len);
        }
        ck_assert_int_eq(pclose(p), 0);
        names_sort(&l);
        return l;
}

static void assert_same(const Names *a, const char *an, const Names *b, const char *bn)
{
        unsigned missing = 0;

        for (size_t i = 0; i < a->n; i++)
                if (!names_has(b, a->v[i])) {
                        fprintf(stderr, "%s in %s, not in %s\n", a->v[i], an, bn);
                        missing++;
                }
        for (size_t i = 0; i < b->n; i++)
                if (!names_has(a, b->v[i])) {
                        fprintf(stderr, "%s in %s, not in %s\n", b->v[i], bn, an);
                        missing++;
                }
        ck_assert_msg(missing == 0, "%s and %s differ in %u names (listed above)", an, bn, missing);
}

START_TEST(test_symbol_lists_agree)
{
        Names hdr = header_names(), map = map_names(), exp = nm_names("-D --defined-only", AP_SHARED_LIB, true);
        Names exported = { 0 };

        ck_assert_uint_ge(hdr.n, 50);
        for (size_t i = 0; i < exp.n; i++) {
                char *at = strchr(exp.v[i], '@');

                if (strcmp(exp.v[i], "AUTOPROCS_0.1") == 0)
                        continue; /* the version definition itself */
                ck_assert_msg(at && strcmp(at, "@@AUTOPROCS_0.1") == 0,
                              "exported %s outside version AUTOPROCS_0.1", exp.v[i]);
                names_add(&exported, exp.v[i], (size_t)(at - exp.v[i]));
        }
        names_sort(&exported);
        assert_same(&hdr, "the header", &map, AP_SYMBOL_MAP);
        assert_same(&hdr, "the header", &exported, "the library's exports");
        names_free(&hdr);
        names_free(&map);
        names_free(&exp);
        names_free(&exported);
}
END_TEST

START_TEST(test_this_program_uses_every_export)
{
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1); /* not in nm's own process */
        Names exp, used;
        unsigned missing = 0;

        ck_assert_int_gt(n, 0);
        self[n] = 0;
        exp = nm_names("-D --defined-only", AP_SHARED_LIB, false);
        used = nm_names("-u", self, false);

        for (size_t i = 0; i < exp.n; i++)
                if (strncmp(exp.v[i], "autoprocs_", 10) == 0 && !names_has(&used, exp.v[i])) {
                        fprintf(stderr, "test-api never calls %s\n", exp.v[i]);
                        missing++;
                }
        ck_assert_msg(missing == 0, "%u exported functions are not exercised by test-api", missing);
        names_free(&exp);
        names_free(&used);
}
END_TEST

/* ---- configuration and names ------------------------------------------------------------------ */

static void log_nothing(autoprocs_log_level level, const char *event, const char *message, void *userdata)
{
        (void)level, (void)event, (void)message, (void)userdata;
}

static void procs_changed_nothing(unsigned old_procs, unsigned new_procs, void *userdata)
{
        (void)old_procs, (void)new_procs, (void)userdata;
}

START_TEST(test_config_setters)
{
        autoprocs_config *c = NULL;

        ck_assert_int_eq(autoprocs_config_new(NULL), -EINVAL);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(autoprocs_config_set_policy(c, (autoprocs_policy)7), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_policy(c, AUTOPROCS_POLICY_CEIL), 0);
        ck_assert_int_eq(autoprocs_config_set_min(c, 3), 0);
        ck_assert_int_eq(autoprocs_config_set_reserve_millicpus(c, 500), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, 5 * MS), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, 10 * MS + 1), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, 3600001 * MS), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, 10 * MS), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(c, 0), 0);
        ck_assert_int_eq(autoprocs_config_set_stack_size(c, 1024), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_stack_size(c, 128 * 1024), 0);
        ck_assert_int_eq(autoprocs_config_set_max_threads(c, 0), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_max_threads(c, 100), 0);
        ck_assert_int_eq(autoprocs_config_set_max_blocking(c, 100001), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_max_blocking(c, 8), 0);
        ck_assert_int_eq(autoprocs_config_set_pacing(c, (autoprocs_pacing)9), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_pacing(c, AUTOPROCS_PACING_OFF), 0);
        ck_assert_int_eq(autoprocs_config_set_procs(c, 2), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, ""), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_root(c, "/tmp"), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, NULL), 0);
        ck_assert_int_eq(autoprocs_config_set_pid(c, -1), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_pid(c, 0), 0);
        ck_assert_int_eq(autoprocs_config_set_cgroup_dir(c, NULL), 0);
        ck_assert_int_eq(autoprocs_config_set_log_callback(c, log_nothing, NULL), 0);
        ck_assert_int_eq(autoprocs_config_set_procs_changed_callback(c, procs_changed_nothing, NULL), 0);
        ck_assert_int_eq(autoprocs_config_set_policy(NULL, AUTOPROCS_POLICY_CEIL), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_interval_ns(NULL, 0), -EINVAL);
        ck_assert_ptr_null(autoprocs_config_free(c));
        ck_assert_ptr_null(autoprocs_config_free(NULL));
}
END_TEST

START_TEST(test_names_and_version)
{
        autoprocs_policy p;
        autoprocs_pacing pc;
        char want[64];

        ck_assert_int_eq(autoprocs_policy_from_string("floor", &p), 0);
        ck_assert_int_eq(p, AUTOPROCS_POLICY_FLOOR);
        ck_assert_int_eq(autoprocs_policy_from_string("Floor", &p), -EINVAL);
        ck_assert_int_eq(autoprocs_policy_from_string(NULL, &p), -EINVAL);
        ck_assert_str_eq(autoprocs_policy_to_string(AUTOPROCS_POLICY_AUTOMAXPROCS), "automaxprocs");
        ck_assert_str_eq(autoprocs_policy_to_string((autoprocs_policy)42), "unknown");
        ck_assert_int_eq(autoprocs_pacing_from_string("on", &pc), 0);
        ck_assert_int_eq(pc, AUTOPROCS_PACING_ON);
        ck_assert_int_eq(autoprocs_pacing_from_string("sometimes", &pc), -EINVAL);
        snprintf(want, sizeof(want), "%d.%d.%d", AUTOPROCS_VERSION_MAJOR, AUTOPROCS_VERSION_MINOR,
                 AUTOPROCS_VERSION_PATCH);
        ck_assert_str_eq(autoprocs_version(), want);
}
END_TEST

/* ---- detection on a fixture tree, the sized output structs ----------------------------------- */

static autoprocs_facts *detect_fixture(const char *name)
{
        autoprocs_config *c = NULL;
        autoprocs_facts *f = NULL;
        char root[4096];

        snprintf(root, sizeof(root), "%s/%s", AP_FIXTURES, name);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, root), 0);
        ck_assert_int_eq(autoprocs_detect(c, &f), 0);
        autoprocs_config_free(c);
        return f;
}

START_TEST(test_facts_in_ns)
{
        autoprocs_facts *f = detect_fixture("v2-quota-1.5");
        char *json = NULL;

        ck_assert_int_eq(autoprocs_facts_cgroup_version(f), 2);
        ck_assert_str_eq(autoprocs_facts_cgroup_path(f), "/app.slice/app.service");
        ck_assert(autoprocs_facts_has_limit(f));
        ck_assert_uint_eq(autoprocs_facts_quota_ns(f), 150000 * 1000ull);
        ck_assert_uint_eq(autoprocs_facts_period_ns(f), 100000 * 1000ull);
        ck_assert(autoprocs_facts_limit_cpus(f) == 1.5);
        ck_assert_str_eq(autoprocs_facts_limit_cgroup(f), "/app.slice/app.service");
        ck_assert_ptr_nonnull(strstr(autoprocs_facts_limit_file(f), "/app.service/cpu.max"));
        ck_assert_uint_eq(autoprocs_facts_affinity_cpus(f), 4);
        ck_assert_ptr_nonnull(autoprocs_facts_affinity_source(f));
        ck_assert_uint_eq(autoprocs_facts_procs(f), 2);
        ck_assert_int_eq(autoprocs_facts_policy(f), AUTOPROCS_POLICY_GO125);
        ck_assert_uint_eq(autoprocs_facts_warning_count(f), 0);
        ck_assert_ptr_null(autoprocs_facts_warning(f, 0));
        ck_assert_ptr_null(autoprocs_facts_note(f, autoprocs_facts_note_count(f)));
        ck_assert_int_eq(autoprocs_facts_to_json(f, &json), 0);
        ck_assert_ptr_nonnull(strstr(json, "\"quota_us\":150000"));
        free(json);
        ck_assert_ptr_null(autoprocs_facts_free(f));
        ck_assert_ptr_null(autoprocs_facts_free(NULL));
        /* NULL facts: the documented neutral answers */
        ck_assert_uint_eq(autoprocs_facts_quota_ns(NULL), 0);
        ck_assert_uint_eq(autoprocs_facts_procs(NULL), 1);
        ck_assert_int_eq(autoprocs_detect(NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(test_sized_structs)
{
        autoprocs_facts *f = detect_fixture("v2-quota-1.5");
        struct {
                autoprocs_throttling t;
                unsigned char future[32];
        } big;
        struct {
                autoprocs_pressure p;
                unsigned char future[32];
        } bigp;
        autoprocs_throttling t;
        autoprocs_pressure p;

        /* a size below the first version's is refused and nothing is written */
        memset(&t, 0xa5, sizeof(t));
        ck_assert_int_eq(autoprocs_facts_throttling(f, &t, sizeof(t) - 9), -EINVAL);
        ck_assert_uint_eq(t.nr_periods, 0xa5a5a5a5a5a5a5a5ull);
        ck_assert_int_eq(autoprocs_facts_throttling(f, NULL, sizeof(t)), -EINVAL);
        ck_assert_int_eq(autoprocs_facts_throttling(NULL, &t, sizeof(t)), -EINVAL);
        ck_assert_int_eq(autoprocs_facts_throttling(f, &t, sizeof(t)), 0);
        ck_assert_uint_eq(t.nr_periods, 500);
        ck_assert_uint_eq(t.nr_throttled, 20);
        ck_assert_uint_eq(t.throttled_ns, 1500000000ull);
        /* a newer caller's bigger struct: ours filled, the rest zeroed */
        memset(&big, 0xa5, sizeof(big));
        ck_assert_int_eq(autoprocs_facts_throttling(f, &big.t, sizeof(big)), 0);
        ck_assert_uint_eq(big.t.throttled_ns, 1500000000ull);
        for (size_t i = 0; i < sizeof(big.future); i++)
                ck_assert_uint_eq(big.future[i], 0);

        ck_assert_int_eq(autoprocs_facts_pressure(f, &p, 1), -EINVAL);
        ck_assert_int_eq(autoprocs_facts_pressure(f, &p, sizeof(p)), 0);
        ck_assert_uint_eq(p.some_total_ns, 2345678000ull);
        ck_assert(p.has_full);
        ck_assert_uint_eq(p.full_total_ns, 1234567000ull);
        memset(&bigp, 0xa5, sizeof(bigp));
        ck_assert_int_eq(autoprocs_facts_pressure(f, &bigp.p, sizeof(bigp)), 0);
        ck_assert_uint_eq(bigp.future[sizeof(bigp.future) - 1], 0);
        autoprocs_facts_free(f);
}
END_TEST

/* ---- the one-call answer and the watcher ------------------------------------------------------- */

static struct {
        _Atomic unsigned calls;
        size_t size;
        uint64_t quota_ns, period_ns;
} W;

static void on_watch(const autoprocs_watch_event *ev, void *userdata)
{
        (void)userdata;
        W.size = ev->size;
        W.quota_ns = ev->quota_ns;
        W.period_ns = ev->period_ns;
        W.calls++;
}

START_TEST(test_available_and_watch)
{
        autoprocs_config *c = NULL;
        autoprocs_watch *w = NULL;
        char root[4096];

        ck_assert_uint_ge(autoprocs_available_procs(), 1);
        snprintf(root, sizeof(root), "%s/v2-quota-1.5", AP_FIXTURES);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, root), 0);
        ck_assert_int_eq(autoprocs_watch_start(c, NULL, NULL, &w), -EINVAL);
        ck_assert_int_eq(autoprocs_watch_start(c, on_watch, NULL, NULL), -EINVAL);
        ck_assert_int_eq(autoprocs_watch_start(c, on_watch, NULL, &w), 0);
        for (int i = 0; i < 10000 && W.calls == 0; i++)
                usleep(1000);
        autoprocs_watch_stop(w);
        autoprocs_watch_stop(NULL);
        autoprocs_config_free(c);
        ck_assert_uint_ge(W.calls, 1);
        ck_assert_uint_eq(W.size, sizeof(autoprocs_watch_event));
        ck_assert_uint_eq(W.quota_ns, 150000 * 1000ull);
        ck_assert_uint_eq(W.period_ns, 100000 * 1000ull);
}
END_TEST

/* ---- the runtime ----------------------------------------------------------------------------- */

static struct {
        autoprocs_chan *ch;
        autoprocs_wg *wg;
        autoprocs_mutex *mu;
        int fds[2];
        int lfd;
        struct sockaddr_in addr;
        int sum;
        bool in_task;
} R;

static void producer(void *arg)
{
        (void)arg;
        R.in_task = autoprocs_in_task();
        for (int i = 1; i <= 10; i++)
                ck_assert_int_eq(autoprocs_chan_send(R.ch, &i), 0);
        autoprocs_chan_close(R.ch);
        autoprocs_checkpoint();
        autoprocs_yield();
        autoprocs_sleep_ns(1 * MS);
        autoprocs_block_begin();
        autoprocs_block_end();
        ck_assert_int_eq(autoprocs_wg_done(R.wg), 0);
}

static void consumer(void *arg)
{
        int v;

        (void)arg;
        while (autoprocs_chan_recv(R.ch, &v) == 0) {
                autoprocs_mutex_lock(R.mu);
                R.sum += v;
                ck_assert_int_eq(autoprocs_mutex_unlock(R.mu), 0);
        }
        ck_assert_int_eq(autoprocs_mutex_unlock(R.mu), -EPERM); /* not locked: refused */
        ck_assert_int_eq(autoprocs_wg_done(R.wg), 0);
}

/* A pipe, a socket pair and a loopback TCP connection through every I/O call. */
static void io_task(void *arg)
{
        uint64_t soon = autoprocs_now_ns() + 10000 * MS;
        int sv[2], c, a;
        char buf[8];

        (void)arg;
        ck_assert_int_eq(autoprocs_fd_wait(R.fds[0], AUTOPROCS_FD_READ, autoprocs_now_ns() + 2 * MS), -ETIMEDOUT);
        ck_assert_int_eq(autoprocs_write(R.fds[1], "ping", 4, soon), 4);
        ck_assert_int_eq(autoprocs_fd_wait(R.fds[0], AUTOPROCS_FD_READ, soon), 0);
        ck_assert_int_eq(autoprocs_read(R.fds[0], buf, sizeof(buf), soon), 4);
        ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
        ck_assert_int_eq(autoprocs_fd_wait(-1, AUTOPROCS_FD_READ, soon), -EBADF);

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(autoprocs_send(sv[0], "pong", 4, 0, soon), 4);
        ck_assert_int_eq(autoprocs_recv(sv[1], buf, sizeof(buf), 0, soon), 4);
        ck_assert_int_eq(autoprocs_fd_release(sv[0]), 0);
        ck_assert_int_eq(close(sv[0]), 0);
        ck_assert_int_eq(autoprocs_fd_close(sv[1]), 0);

        c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(c, 0);
        ck_assert_int_eq(autoprocs_connect(c, (struct sockaddr *)&R.addr, sizeof(R.addr), soon), 0);
        a = autoprocs_accept(R.lfd, NULL, NULL, SOCK_CLOEXEC, soon);
        ck_assert_int_ge(a, 0);
        ck_assert_int_eq(autoprocs_send(c, "tcp", 3, 0, soon), 3);
        ck_assert_int_eq(autoprocs_recv(a, buf, sizeof(buf), 0, soon), 3);
        ck_assert_int_eq(autoprocs_fd_close(a), 0);
        ck_assert_int_eq(autoprocs_fd_close(c), 0);
}

START_TEST(test_runtime_entry_points)
{
        autoprocs_config *c = NULL;
        autoprocs_task *t[3];
        autoprocs_stats s;
        struct {
                autoprocs_stats s;
                unsigned char future[64];
        } big;
        uint32_t lens[8];
        socklen_t len = sizeof(R.addr);

        /* before init: documented answers, no crash */
        ck_assert_uint_eq(autoprocs_procs(), 0);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), -ESRCH);
        ck_assert_int_eq(autoprocs_stats_runq(lens, 8), -ESRCH);
        ck_assert_int_eq(autoprocs_spawn(producer, NULL, NULL), -ESRCH);
        ck_assert_int_eq(autoprocs_procs_set(2), -ESRCH);

        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_procs(c, 2), 0);
        ck_assert_int_eq(autoprocs_init(c), 0);
        ck_assert_int_eq(autoprocs_init(c), 1);
        autoprocs_config_free(c);
        ck_assert_uint_eq(autoprocs_procs(), 2);
        ck_assert(!autoprocs_in_task());

        ck_assert_int_eq(autoprocs_chan_new(0, 1, &R.ch), -EINVAL);
        ck_assert_int_eq(autoprocs_chan_new(sizeof(int), 2, &R.ch), 0);
        ck_assert_int_eq(autoprocs_wg_new(&R.wg), 0);
        ck_assert_int_eq(autoprocs_mutex_new(&R.mu), 0);
        ck_assert_int_eq(autoprocs_wg_add(R.wg, -1), -EINVAL); /* below 0: refused, unchanged */
        ck_assert_int_eq(autoprocs_wg_add(NULL, 1), -EINVAL);
        ck_assert_int_eq(autoprocs_wg_add(R.wg, 2), 0);
        ck_assert_int_eq(autoprocs_spawn(NULL, NULL, NULL), -EINVAL);
        ck_assert_int_eq(autoprocs_spawn(producer, NULL, &t[0]), 0);
        ck_assert_int_eq(autoprocs_spawn(consumer, NULL, &t[1]), 0);
        autoprocs_wg_wait(R.wg);
        ck_assert_int_eq(autoprocs_task_join(t[0]), 0);
        ck_assert_int_eq(autoprocs_task_join(t[1]), 0);
        ck_assert_int_eq(autoprocs_task_join(NULL), -EINVAL);
        ck_assert(R.in_task);
        ck_assert_int_eq(R.sum, 55);
        ck_assert_ptr_null(autoprocs_chan_free(R.ch));
        ck_assert_ptr_null(autoprocs_wg_free(R.wg));
        ck_assert_ptr_null(autoprocs_mutex_free(R.mu));

        ck_assert_int_eq(pipe2(R.fds, O_CLOEXEC), 0);
        R.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        R.addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ck_assert_int_eq(bind(R.lfd, (struct sockaddr *)&R.addr, sizeof(R.addr)), 0);
        ck_assert_int_eq(listen(R.lfd, 4), 0);
        ck_assert_int_eq(getsockname(R.lfd, (struct sockaddr *)&R.addr, &len), 0);
        ck_assert_int_eq(autoprocs_spawn(io_task, NULL, &t[2]), 0);
        ck_assert_int_eq(autoprocs_task_join(t[2]), 0);
        ck_assert_int_eq(autoprocs_fd_close(R.fds[0]), 0);
        ck_assert_int_eq(autoprocs_fd_close(R.fds[1]), 0);
        ck_assert_int_eq(autoprocs_fd_close(R.lfd), 0);

        ck_assert_int_eq(autoprocs_procs_set(0), -EINVAL);
        ck_assert_int_eq(autoprocs_procs_set(1), 0);
        ck_assert_int_eq(autoprocs_procs_wait(10000 * MS), 0);
        ck_assert_uint_eq(autoprocs_procs(), 1);

        ck_assert_int_eq(autoprocs_stats_get(NULL, sizeof(s)), -EINVAL);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s) - 8), -EINVAL);
        ck_assert_int_eq(autoprocs_stats_get(&s, sizeof(s)), 0);
        ck_assert_uint_eq(s.procs, 1);
        ck_assert_uint_ge(s.tasks_spawned, 3);
        memset(&big, 0xa5, sizeof(big));
        ck_assert_int_eq(autoprocs_stats_get(&big.s, sizeof(big)), 0);
        ck_assert_uint_eq(big.s.procs, 1);
        for (size_t i = 0; i < sizeof(big.future); i++)
                ck_assert_uint_eq(big.future[i], 0);
        ck_assert_int_eq(autoprocs_stats_runq(NULL, 1), -EINVAL);
        ck_assert_int_eq(autoprocs_stats_runq(lens, 8), 1);

        autoprocs_shutdown();
        autoprocs_shutdown();
        ck_assert_uint_eq(autoprocs_procs(), 0);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("api");
        TCase *tc = tcase_create("api");
        SRunner *sr;
        int failed;

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_symbol_lists_agree);
        tcase_add_test(tc, test_this_program_uses_every_export);
        tcase_add_test(tc, test_config_setters);
        tcase_add_test(tc, test_names_and_version);
        tcase_add_test(tc, test_facts_in_ns);
        tcase_add_test(tc, test_sized_structs);
        tcase_add_test(tc, test_available_and_watch);
        tcase_add_test(tc, test_runtime_entry_points);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
