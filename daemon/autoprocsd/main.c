/* SPDX-License-Identifier: MIT */
/*
 * autoprocsd: serves the CPU limits, throttling and pressure of processes and cgroups as
 * Prometheus metrics (docs/metrics.md).
 *
 *   main thread   configuration, sockets, signals (signalfd), systemd notifications, watchdog;
 *   runtime       autoprocs_init() sizes the embedded M:N runtime to the daemon's own cgroup and
 *                 keeps it sized; one task per target probes every interval (targets.c);
 *   HTTP tasks    libmicrohttpd driven by runtime tasks on the netpoller (http-serve.c), render
 *                 from the snapshot store (references taken under a short mutex).
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 a runtime failure (cannot listen, cannot start the
 * runtime), 2 invalid configuration (one line on stderr naming the argument, variable or file).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autoprocs.h"
#include "daemon/autoprocsd/daemon-config.h"
#include "daemon/autoprocsd/encoding.h"
#include "daemon/autoprocsd/http.h"
#include "daemon/autoprocsd/log.h"
#include "daemon/autoprocsd/metrics.h"
#include "daemon/autoprocsd/notify.h"
#include "daemon/autoprocsd/reloader.h"
#include "daemon/common/publish.h"
#include "daemon/autoprocsd/targets.h"
#include "lib/util/cleanup.h"
#include "lib/util/clock.h"
#include "lib/util/macro.h"

#define EXIT_CONFIG 2
/* A scrape body is rendered again when the targets changed and it is this old, or when it is
 * older than CACHE_MAX_NS whatever happened (process_* series stay fresh); older than that it is
 * not served at all but rendered for the scrape that asks. */
#define CACHE_MIN_NS (250ull * 1000 * 1000)
#define CACHE_MAX_NS (2000ull * 1000 * 1000)

/* One rendered body per format, with its gzip form made when a client asked for it. */
typedef struct Cache {
        char *body;
        size_t len;
        char *gz;                 /* NULL: not compressed yet */
        size_t gz_len;
        bool gz_wanted;           /* a client asked for gzip: the renderer compresses too */
        uint64_t plain_at_ns;     /* a client asked for the plain text (0: never): kept while recent */
        uint64_t generation;
        uint64_t at_ns;
} Cache;

/*
 * Scrapes are answered from the last rendered body; when it is stale (see CACHE_*_NS) the
 * renderer thread makes a new one meanwhile, so a scrape never waits for a render of many
 * targets (1,000 containers: several MB of text and its gzip) except the very first one.
 */
static struct {
        ApTargets *targets;
        int proc_fd;
        atomic_uint_least64_t interval_ns; /* of the configuration in force (the watchdog's) */
        pthread_mutex_t cache_lock;
        Cache cache[2]; /* by ApMetricsFormat */
        pthread_cond_t render_cond;
        pthread_t renderer;
        bool renderer_started, renderer_stop;
        bool render_wanted[2];
} D = {
        .proc_fd = -1,
        .cache_lock = PTHREAD_MUTEX_INITIALIZER,
        .render_cond = PTHREAD_COND_INITIALIZER,
};

/* ---------------------------------------------------------------------------------------------
 * HTTP routes
 * ------------------------------------------------------------------------------------------- */

static int reply_text(ApHttpReply *reply, unsigned status, const char *text)
{
        reply->status = status;
        reply->content_type = "text/plain; charset=utf-8";
        reply->body = strdup(text);
        if (!reply->body)
                return -ENOMEM;
        reply->len = strlen(text);
        return 0;
}

static int take_snapshot(ApSnapshot *snap, ApSample ***ret_samples, uint64_t *ret_gen)
{
        ApSample **samples;
        size_t n;
        int r;

        r = ap_targets_snapshot(D.targets, &samples, &n, ret_gen);
        if (r < 0)
                return r;
        *snap = (ApSnapshot){
                .samples = (const ApSample *const *)samples,
                .n_samples = n,
                .version = autoprocs_version(),
        };
        snap->has_runtime = autoprocs_stats_get(&snap->runtime, sizeof(snap->runtime)) == 0;
        (void)ap_process_stats_read(D.proc_fd, &snap->process);
        *ret_samples = samples;
        return 0;
}

/* The plain body is kept this long after a client last asked for it; Prometheus asks for gzip,
 * and 1,000 containers make 3-4 MB of text against 150 KB compressed. */
#define PLAIN_KEEP_NS (10ull * 1000 * 1000 * 1000)

/* Render @fmt now (no lock held).  @retval 0 (*ret filled)  @retval -errno */
static int render(ApMetricsFormat fmt, bool want_gz, bool want_plain, Cache *ret)
{
        ApSample **samples;
        ApSnapshot snap;
        int r;

        *ret = (Cache){ .at_ns = ap_now_ns() };
        r = take_snapshot(&snap, &samples, &ret->generation);
        if (r < 0)
                return r;
        r = ap_metrics_render(&snap, fmt, &ret->body, &ret->len);
        ap_targets_snapshot_free(samples, snap.n_samples);
        if (r < 0)
                return r;
        if (want_gz && ret->len >= AP_GZIP_MIN_BYTES && ap_gzip(ret->body, ret->len, &ret->gz, &ret->gz_len) < 0)
                ret->gz = NULL;
        if (ret->gz && !want_plain) {
                free(ret->body);
                ret->body = NULL;
        }
        ret->gz_wanted = want_gz;
        return 0;
}

static void cache_set(Cache *c, Cache *n)
{
        free(c->body);
        free(c->gz);
        *c = *n;
}

static void *renderer_main(void *arg)
{
        (void)arg;
        /* Below the HTTP thread: a scrape served from the last body never waits behind a render
         * of the next one for a CPU (a loaded 2-core machine: p99 120 -> see README). */
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), getpriority(PRIO_PROCESS, 0) + 5);
        pthread_mutex_lock(&D.cache_lock);
        for (;;) {
                while (!D.renderer_stop && !D.render_wanted[0] && !D.render_wanted[1])
                        pthread_cond_wait(&D.render_cond, &D.cache_lock);
                if (D.renderer_stop)
                        break;
                for (unsigned f = 0; f < 2; f++) {
                        bool gz = D.cache[f].gz_wanted;
                        bool plain = D.cache[f].plain_at_ns &&
                                     ap_now_ns() - D.cache[f].plain_at_ns < PLAIN_KEEP_NS;
                        Cache n;

                        if (!D.render_wanted[f])
                                continue;
                        D.render_wanted[f] = false;
                        pthread_mutex_unlock(&D.cache_lock);
                        if (render((ApMetricsFormat)f, gz, plain, &n) < 0)
                                n.body = n.gz = NULL;
                        pthread_mutex_lock(&D.cache_lock);
                        if (n.body || n.gz) {
                                n.gz_wanted = n.gz_wanted || D.cache[f].gz_wanted;
                                n.plain_at_ns = D.cache[f].plain_at_ns;
                                cache_set(&D.cache[f], &n);
                        }
                }
        }
        pthread_mutex_unlock(&D.cache_lock);
        return NULL;
}

/* Ask for a new body of @fmt (cache_lock held).  @retval false no renderer thread: render here */
static bool want_render(ApMetricsFormat fmt)
{
        if (!D.renderer_started) {
                if (pthread_create(&D.renderer, NULL, renderer_main, NULL) != 0)
                        return false;
                D.renderer_started = true;
        }
        D.render_wanted[fmt] = true;
        pthread_cond_signal(&D.render_cond);
        return true;
}

static void renderer_stop(void)
{
        pthread_mutex_lock(&D.cache_lock);
        D.renderer_stop = true;
        pthread_cond_signal(&D.render_cond);
        pthread_mutex_unlock(&D.cache_lock);
        if (D.renderer_started)
                (void)pthread_join(D.renderer, NULL);
        D.renderer_started = false;
}

static int route_metrics(const char *accept, const char *accept_encoding, ApHttpReply *reply)
{
        ApMetricsFormat fmt = ap_metrics_negotiate(accept);
        Cache *c = &D.cache[fmt];
        uint64_t now = ap_now_ns();
        bool gz = ap_accepts_gzip(accept_encoding), have;
        const char *src;
        size_t len;
        int r;

        pthread_mutex_lock(&D.cache_lock);
        if (gz)
                c->gz_wanted = true;
        else
                c->plain_at_ns = now;
        have = gz ? c->gz || c->body : c->body != NULL;
        if (have) {
                uint64_t age = now - c->at_ns;

                /* Older than CACHE_MAX_NS: too old to serve (a scraper every 15 s must not get
                 * what the previous scrape left), render here.  Else a stale body is served and
                 * the renderer makes the next one: frequent scrapers never wait for a render. */
                if (age >= CACHE_MAX_NS)
                        have = false;
                else if (age >= CACHE_MIN_NS && ap_targets_generation(D.targets) != c->generation &&
                         !want_render(fmt))
                        have = false;
        }
        if (!have) {
                /* nothing to serve yet (or no renderer thread): render here */
                Cache n;

                r = render(fmt, c->gz_wanted, !gz || c->plain_at_ns, &n);
                if (r < 0) {
                        pthread_mutex_unlock(&D.cache_lock);
                        return r;
                }
                n.gz_wanted = c->gz_wanted;
                n.plain_at_ns = c->plain_at_ns;
                cache_set(c, &n);
        }
        if (gz && !c->gz && c->body && c->len >= AP_GZIP_MIN_BYTES)
                (void)ap_gzip(c->body, c->len, &c->gz, &c->gz_len);
        src = gz && c->gz ? c->gz : c->body;
        len = gz && c->gz ? c->gz_len : c->len;
        reply->body = malloc(len + 1);
        if (!reply->body) {
                pthread_mutex_unlock(&D.cache_lock);
                return -ENOMEM;
        }
        memcpy(reply->body, src, len);
        reply->body[len] = '\0';
        reply->len = len;
        reply->content_encoding = gz && c->gz ? "gzip" : NULL;
        pthread_mutex_unlock(&D.cache_lock);
        reply->vary_encoding = true;
        reply->status = 200;
        reply->content_type = ap_metrics_content_type(fmt);
        return 0;
}

static int route_limits(ApHttpReply *reply)
{
        ApSample **samples;
        ApSnapshot snap;
        uint64_t gen;
        int r;

        r = take_snapshot(&snap, &samples, &gen);
        if (r < 0)
                return r;
        r = ap_limits_render_json(&snap, &reply->body, &reply->len);
        ap_targets_snapshot_free(samples, snap.n_samples);
        if (r < 0)
                return r;
        reply->status = 200;
        reply->content_type = "application/json";
        return 0;
}

/* 503 until every target has been probed once, and while a target's --publish file cannot be
 * written (the application next to us would read a stale or no file). */
static int route_readyz(ApHttpReply *reply)
{
        char *label = NULL, *text = NULL;
        int r;

        if (!ap_targets_ready(D.targets))
                return reply_text(reply, 503, "not ready: first probe pending\n");
        r = ap_targets_publish_failing(D.targets, &label);
        if (r < 0)
                return r;
        if (r == 0)
                return reply_text(reply, 200, "ready\n");
        if (asprintf(&text, "not ready: the --publish file of target %s cannot be written\n", label) < 0)
                text = NULL;
        free(label);
        if (!text)
                return -ENOMEM;
        r = reply_text(reply, 503, text);
        free(text);
        return r;
}

static int route(const char *path, const char *accept, const char *accept_encoding, ApHttpReply *reply,
                 void *userdata)
{
        (void)userdata;
        if (strcmp(path, "/metrics") == 0)
                return route_metrics(accept, accept_encoding, reply);
        if (strcmp(path, "/healthz") == 0)
                return reply_text(reply, 200, "ok\n");
        if (strcmp(path, "/readyz") == 0)
                return route_readyz(reply);
        if (strcmp(path, "/v1/limits") == 0)
                return route_limits(reply);
        return -ENOENT;
}

/* ---------------------------------------------------------------------------------------------
 * Sockets
 * ------------------------------------------------------------------------------------------- */

/* Is @fd bound in @addr's family (ap_http_bind may fall back from [::] to 0.0.0.0)? */
static bool bound_as_asked(int fd, const ApListenAddr *addr)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        return getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || ss.ss_family == addr->sa.ss_family;
}

/* The listening sockets: --listen, else the ones systemd passed, else the default address. */
static int open_sockets(const ApDaemonConfig *c, int **ret_fds, size_t *ret_n)
{
        ApListenAddr def = { 0 };
        const ApListenAddr *addrs = c->listen;
        size_t n_addrs = c->n_listen;
        char **names = NULL;
        int *fds = NULL;
        int r;

        if (n_addrs == 0) {
                r = ap_listen_fds(&fds, &names);
                if (r < 0) {
                        ap_daemon_log(AUTOPROCS_LOG_ERR, "listen", NULL, "sockets passed by the service "
                                      "manager are unusable: %s", strerror(-r));
                        return r;
                }
                if (r > 0) {
                        for (int i = 0; i < r; i++) {
                                ap_daemon_log(AUTOPROCS_LOG_DEBUG, "listen", NULL, "socket fd %d (%s) "
                                              "passed by the service manager", fds[i], names[i]);
                                free(names[i]);
                        }
                        free(names);
                        *ret_fds = fds;
                        *ret_n = (size_t)r;
                        return 0;
                }
                {
                        const char *why;

                        r = ap_listen_addr_parse(AP_DAEMON_DEFAULT_LISTEN, &def, &why);
                        if (r < 0)
                                return r;
                }
                addrs = &def;
                n_addrs = 1;
        }
        fds = calloc(n_addrs, sizeof(*fds));
        if (!fds) {
                free(def.text);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_addrs; i++) {
                r = ap_http_bind(&addrs[i]);
                if (r < 0) {
                        ap_daemon_log(AUTOPROCS_LOG_ERR, "listen", NULL, "cannot listen on %s: %s",
                                      addrs[i].text, strerror(-r));
                        while (i > 0)
                                (void)close(fds[--i]);
                        free(fds);
                        free(def.text);
                        return r;
                }
                fds[i] = r;
                if (addrs[i].sa.ss_family == AF_INET6 && !bound_as_asked(r, &addrs[i]))
                        ap_daemon_log(AUTOPROCS_LOG_NOTICE, "listen", NULL, "listen %s: no IPv6 on this "
                                      "system; listening on 0.0.0.0 (IPv4), same port, instead", addrs[i].text);
        }
        free(def.text);
        *ret_fds = fds;
        *ret_n = n_addrs;
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Configuration in force
 * ------------------------------------------------------------------------------------------- */

static int check_publish_dir(const char *dir, char **ret_error)
{
        ApPublishDir *pd = NULL;
        int r;

        if (!dir)
                return 0;
        /* Opened as the targets will open it: O_DIRECTORY | O_NOFOLLOW (publish.h). */
        r = ap_publish_dir_open(dir, &pd);
        ap_publish_dir_unref(pd);
        if (r == 0)
                return 0;
        if (asprintf(ret_error, "--publish %s: %s", dir, r == -ELOOP ? "a symbolic link (give the directory "
                     "it points to)" : r == -ENOTDIR ? "not a directory" : strerror(-r)) < 0)
                *ret_error = NULL;
        return -EINVAL;
}

static int apply_config(const ApDaemonConfig *c)
{
        ApTargetsOptions opts = {
                .interval_ns = c->interval_ns,
                .policy = c->policy,
                .publish_dir = c->publish_dir,
                .pod_logs_dir = c->pod_logs_dir,
        };
        int r;

        ap_daemon_log_set_level(c->log_level);
        r = ap_targets_set_options(D.targets, &opts);
        if (r < 0)
                return r;
        return ap_targets_apply(D.targets, c->targets, c->n_targets);
}

static void status_line(const ApDaemonConfig *c, const char *url, char *buf, size_t size)
{
        (void)snprintf(buf, size, "STATUS=watching %zu target%s every %.3gs; metrics on %s/metrics",
                       c->n_targets, c->n_targets == 1 ? "" : "s", (double)c->interval_ns / 1e9,
                       url ? url : "?");
}

/* What a reload works on: owned by the main thread, touched by the reloader's thread only while
 * a run is in progress (the main thread leaves it alone meanwhile). */
typedef struct Reload {
        const ApDaemonArgs *args;
        ApDaemonConfig *current;
        const char *url;
} Reload;

/* The body of a reload: on the reloader's thread (reloader.h), never on the one reading signals. */
static void reload(void *userdata)
{
        const Reload *ctx = userdata;
        const ApDaemonArgs *args = ctx->args;
        ApDaemonConfig *current = ctx->current;
        const char *url = ctx->url;
        ApDaemonConfig next;
        char *error = NULL, state[512], status[400];
        bool listen_changed;
        int r;

        (void)snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
                       (unsigned long long)(ap_now_ns() / 1000));
        (void)ap_notify(state);

        r = ap_daemon_config_load(args, &next, &error);
        if (r >= 0) {
                r = check_publish_dir(next.publish_dir, &error);
                if (r < 0)
                        ap_daemon_config_done(&next);
        }
        if (r < 0) {
                ap_daemon_log(AUTOPROCS_LOG_ERR, "reload-failed", NULL, "reload: %s; keeping the "
                              "configuration in force", error ? error : strerror(-r));
                free(error);
                goto ready;
        }
        listen_changed = next.n_listen != current->n_listen;
        for (size_t i = 0; !listen_changed && i < next.n_listen; i++)
                listen_changed = strcmp(next.listen[i].text, current->listen[i].text) != 0;
        if (listen_changed)
                ap_daemon_log(AUTOPROCS_LOG_WARNING, "reload", NULL, "reload: listen addresses change "
                              "only with a restart; still serving on %s", url ? url : "the old sockets");
        r = apply_config(&next);
        if (r < 0) {
                ap_daemon_log(AUTOPROCS_LOG_ERR, "reload-failed", NULL, "reload: applying the new "
                              "targets failed: %s", strerror(-r));
                ap_daemon_config_done(&next);
                goto ready;
        }
        ap_daemon_config_done(current);
        *current = next;
        atomic_store(&D.interval_ns, current->interval_ns);
        ap_daemon_log(AUTOPROCS_LOG_INFO, "reloaded", NULL, "reloaded: %zu target%s, interval %.3gs",
                      current->n_targets, current->n_targets == 1 ? "" : "s",
                      (double)current->interval_ns / 1e9);
ready:
        status_line(current, url, status, sizeof(status));
        (void)snprintf(state, sizeof(state), "READY=1\n%s", status);
        (void)ap_notify(state);
}

/* Wait up to @timeout_ns for the first probe of every target (READY=1 means data to serve). */
static void wait_ready(uint64_t timeout_ns)
{
        uint64_t end = ap_now_ns() + timeout_ns;

        while (!ap_targets_ready(D.targets) && ap_now_ns() < end) {
                struct timespec ts = { 0, 10 * 1000 * 1000 };

                (void)nanosleep(&ts, NULL);
        }
}

/* SIGTERM must stop the daemon within 2 s even when a probe hangs in a read (a hung network
 * filesystem under root:DIR, a FIFO): the orderly stop gets this long, then we leave anyway. */
#define STOP_GRACE_NS (1800ull * 1000 * 1000)

/* What the orderly stop is doing now, for the guard's message. */
static _Atomic(const char *) stop_step = "handling the signal";

static void *stop_guard(void *arg)
{
        struct timespec ts = { .tv_sec = STOP_GRACE_NS / 1000000000ull,
                               .tv_nsec = STOP_GRACE_NS % 1000000000ull };

        (void)arg;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        ap_daemon_log(AUTOPROCS_LOG_WARNING, "stopping", NULL, "the stop took over %.1f s, "
                      "stuck %s; exiting without waiting", (double)STOP_GRACE_NS / 1e9,
                      atomic_load(&stop_step));
        _exit(EXIT_SUCCESS);
        return NULL;
}

static void on_procs_changed(unsigned old_procs, unsigned new_procs, void *userdata)
{
        (void)userdata;
        ap_daemon_log(AUTOPROCS_LOG_DEBUG, "runtime-procs", "self", "runtime processors %u -> %u",
                      old_procs, new_procs);
}

static int start_runtime(const ApDaemonConfig *c)
{
        autoprocs_config *rc = NULL;
        int r;

        r = autoprocs_config_new(&rc);
        if (r < 0)
                return r;
        (void)autoprocs_config_set_policy(rc, c->policy);
        (void)autoprocs_config_set_log_callback(rc, ap_daemon_log_library, NULL);
        (void)autoprocs_config_set_procs_changed_callback(rc, on_procs_changed, NULL);
        /* Probing tasks are small: 64 KiB stacks are plenty for detection. */
        r = autoprocs_init(rc);
        autoprocs_config_free(rc);
        return r < 0 ? r : 0;
}

/* Command line, environment and config file.  @retval -1 go on  @retval an exit code otherwise */
static int load_config(int argc, char **argv, ApDaemonArgs *args, ApDaemonConfig *config)
{
        char *error = NULL;
        int r;

        r = ap_daemon_args_parse(argc, argv, args, &error);
        if (r < 0) {
                fprintf(stderr, "autoprocsd: %s\n", error ? error : strerror(-r));
                free(error);
                return EXIT_CONFIG;
        }
        if (args->help || args->version) {
                if (args->help)
                        ap_daemon_usage();
                else
                        printf("autoprocsd %s\n", autoprocs_version());
                ap_daemon_args_done(args);
                return EXIT_SUCCESS;
        }
        r = ap_daemon_config_load(args, config, &error);
        if (r >= 0)
                r = check_publish_dir(config->publish_dir, &error);
        if (r < 0) {
                fprintf(stderr, "autoprocsd: %s\n", error ? error : strerror(-r));
                free(error);
                ap_daemon_config_done(config);
                ap_daemon_args_done(args);
                return EXIT_CONFIG;
        }
        return -1;
}

/* Signals go to a signalfd only: blocked before any thread exists.  @retval the fd  @retval -1 */
static int signals_open(void)
{
        sigset_t mask;
        int sfd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0 ||
            (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
                ap_daemon_log(AUTOPROCS_LOG_ERR, "start", NULL, "signalfd: %s", strerror(errno));
                return -1;
        }
        (void)signal(SIGPIPE, SIG_IGN);
        return sfd;
}

/* The runtime, the targets and the HTTP server on the listening sockets; *ret_url is the first
 * socket's address (for the status line).  Logs what failed.  @retval 0  @retval -errno */
static int services_start(const ApDaemonConfig *config, ApHttp **ret_http, char **ret_url)
{
        ApTargetsOptions opts = { .interval_ns = config->interval_ns, .policy = config->policy,
                                  .publish_dir = config->publish_dir,
                                  .pod_logs_dir = config->pod_logs_dir };
        _cleanup_free_ int *fds = NULL;
        size_t n_fds = 0;
        int r;

        r = open_sockets(config, &fds, &n_fds);
        if (r < 0)
                return r;
        r = start_runtime(config);
        if (r < 0) {
                ap_daemon_log(AUTOPROCS_LOG_ERR, "start", NULL, "cannot start the runtime: %s", strerror(-r));
                goto fail;
        }
        r = ap_targets_new(&opts, &D.targets);
        if (r >= 0)
                r = ap_targets_apply(D.targets, config->targets, config->n_targets);
        if (r < 0) {
                ap_daemon_log(AUTOPROCS_LOG_ERR, "start", NULL, "cannot start the targets: %s", strerror(-r));
                goto fail;
        }
        r = ap_http_start(fds, n_fds, route, NULL, ret_http);
        if (r < 0) {
                ap_daemon_log(AUTOPROCS_LOG_ERR, "start", NULL, "cannot start the HTTP server (libmicrohttpd)");
                goto fail;
        }
        for (size_t i = 0; i < n_fds; i++) {
                char *u = ap_http_socket_url(fds[i]);

                ap_daemon_log(AUTOPROCS_LOG_NOTICE, "listening", NULL, "serving metrics on %s/metrics",
                              u ? u : "(unknown address)");
                if (i == 0)
                        *ret_url = u;
                else
                        free(u);
        }
        return 0;
fail:
        for (size_t i = 0; i < n_fds; i++)
                (void)close(fds[i]);
        return r;
}

/* Ping the watchdog when it is due and the probes still make progress (not just this loop).
 * @retval the poll timeout until the next ping, -1 = no watchdog */
static int watchdog_tick(uint64_t watchdog_usec, uint64_t *next)
{
        uint64_t now = ap_now_ns();

        if (watchdog_usec == 0)
                return -1;
        if (now >= *next) {
                uint64_t last = ap_targets_last_publish_ns(D.targets);
                uint64_t stale = 3 * atomic_load(&D.interval_ns) + 5000000000ull;

                if (last == 0 || now - last < stale)
                        (void)ap_notify("WATCHDOG=1");
                else
                        ap_daemon_log(AUTOPROCS_LOG_ERR, "watchdog", NULL, "no probe finished for %.1fs: "
                                      "not pinging the watchdog", (double)(now - last) / 1e9);
                *next = now + watchdog_usec * 1000 / 2;
        }
        return (int)((*next - now + 999999) / 1000000);
}

/* The main loop: signals (SIGHUP reloads, SIGTERM/SIGINT stop) and the watchdog.
 * @retval the exit code */
static int serve(int sfd, ApDaemonArgs *args, ApDaemonConfig *config, const char *url)
{
        Reload ctx = { .args = args, .current = config, .url = url };
        uint64_t watchdog_usec = 0, next_watchdog = 0;
        ApReloader *reloader = NULL;
        int r;

        atomic_store(&D.interval_ns, config->interval_ns);
        r = ap_reloader_new(reload, &ctx, &reloader);
        if (r < 0) {
                ap_daemon_log(AUTOPROCS_LOG_ERR, "start", NULL, "cannot set up reloads: %s", strerror(-r));
                return EXIT_FAILURE;
        }
        if (ap_notify_watchdog_usec(&watchdog_usec) > 0)
                next_watchdog = ap_now_ns();
        for (;;) {
                struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
                                       { .fd = ap_reloader_fd(reloader), .events = POLLIN } };
                struct signalfd_siginfo si;
                pthread_t guard;

                r = poll(p, AP_ELEMENTSOF(p), watchdog_tick(watchdog_usec, &next_watchdog));
                if (r < 0 && errno != EINTR) {
                        ap_daemon_log(AUTOPROCS_LOG_ERR, "poll", NULL, "poll: %s", strerror(errno));
                        r = EXIT_FAILURE;
                        break;
                }
                if (r <= 0)
                        continue;
                if ((p[1].revents & POLLIN) && (r = ap_reloader_dispatch(reloader)) < 0)
                        ap_daemon_log(AUTOPROCS_LOG_ERR, "reload-failed", NULL, "reload: cannot start "
                                      "its thread: %s", strerror(-r));
                if (!(p[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
                        continue;
                if (si.ssi_signo == SIGHUP) {
                        ap_daemon_log(AUTOPROCS_LOG_INFO, "reload", NULL, "SIGHUP: reloading the configuration");
                        r = ap_reloader_request(reloader);
                        if (r < 0)
                                ap_daemon_log(AUTOPROCS_LOG_ERR, "reload-failed", NULL, "reload: cannot "
                                              "start its thread: %s", strerror(-r));
                        continue;
                }
                ap_daemon_log(AUTOPROCS_LOG_INFO, "stopping", NULL, "%s: stopping", strsignal((int)si.ssi_signo));
                (void)ap_notify("STOPPING=1");
                if (pthread_create(&guard, NULL, stop_guard, NULL) == 0)
                        (void)pthread_detach(guard);
                r = EXIT_SUCCESS;
                break;
        }
        /* A reload in progress finishes first (the stop guard bounds the wait). */
        ap_reloader_free(reloader);
        return r;
}

int main(int argc, char **argv)
{
        ApDaemonArgs args;
        ApDaemonConfig config = { 0 };
        ApHttp *http = NULL;
        char *url = NULL, status[400], state[512];
        int sfd, exit_code = EXIT_FAILURE;

        exit_code = load_config(argc, argv, &args, &config);
        if (exit_code >= 0)
                return exit_code;
        exit_code = EXIT_FAILURE;
        ap_daemon_log_set_level(config.log_level);
        ap_daemon_log_open();
        sfd = signals_open();
        if (sfd < 0)
                goto out;
        /* Scrape bodies of many targets are MBs, made and dropped every second: mmap them so
         * that a free gives the memory back (glibc's default threshold rises to 32 MB after the
         * first such free, and the heap then keeps the high-water mark resident). */
        (void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
        (void)mallopt(M_ARENA_MAX, 2);
        D.proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (services_start(&config, &http, &url) < 0)
                goto out;

        wait_ready(5ull * 1000 * 1000 * 1000);
        status_line(&config, url, status, sizeof(status));
        (void)snprintf(state, sizeof(state), "READY=1\n%s", status);
        (void)ap_notify(state);
        exit_code = serve(sfd, &args, &config, url);
out:
        /* the HTTP tasks first: the runtime's shutdown waits for every task */
        atomic_store(&stop_step, "closing the HTTP connections");
        http = ap_http_free(http);
        atomic_store(&stop_step, "stopping the probes (one is blocked in a read)");
        if (D.targets)
                ap_targets_stop_all(D.targets);
        atomic_store(&stop_step, "waiting for the runtime's tasks to finish");
        autoprocs_shutdown();
        renderer_stop();
        D.targets = ap_targets_free(D.targets);
        for (size_t i = 0; i < AP_ELEMENTSOF(D.cache); i++) {
                free(D.cache[i].body);
                free(D.cache[i].gz);
        }
        if (D.proc_fd >= 0)
                (void)close(D.proc_fd);
        if (sfd >= 0)
                (void)close(sfd);
        free(url);
        ap_daemon_config_done(&config);
        ap_daemon_args_done(&args);
        return exit_code;
}
