/* SPDX-License-Identifier: MIT */
/*
 * autoprocs-example: a program sized by autoprocs_init() that follows its CPU limit live.
 *
 *     autoprocs-example [--seconds N] [--workers W] [--interval-ms MS] [--policy P] [--root DIR]
 *
 * Starts the embedded runtime with autoprocs_init(), runs a worker pool (one producer task feeding
 * W worker tasks over a channel, each item a slice of CPU work) and prints one line on stdout
 * whenever the processor count changes:
 *     procs-changed OLD NEW t=SECONDS     from the callback, when the watcher asks for a new size
 *     procs N t=SECONDS                   from the main thread, once N processors are in force
 * (t = CLOCK_MONOTONIC, comparable across processes on one machine).  Library events go to
 * stderr as "event: message".  Runs until SIGTERM/SIGINT or for --seconds N, then prints
 * "done items=N checksum=X" and exits 0.  The environment (AUTOPROCS_*) overrides the options.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoprocs.h"

static atomic_bool stopping;
static atomic_uint_fast64_t items_done;
static atomic_uint_fast64_t checksum; /* makes the work observable, so it is not optimised away */

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_procs_changed(unsigned old_procs, unsigned new_procs, void *userdata)
{
        (void)userdata;
        printf("procs-changed %u %u t=%.6f\n", old_procs, new_procs, now_s());
        fflush(stdout);
}

static void on_log(autoprocs_log_level level, const char *event, const char *message, void *userdata)
{
        (void)level;
        (void)userdata;
        fprintf(stderr, "%s: %s\n", event, message);
}

/* One work item: about 200 µs of integer work, with a scheduling point in the middle. */
static uint64_t work(uint64_t seed)
{
        uint64_t x = seed | 1;

        for (int round = 0; round < 2; round++) {
                for (int i = 0; i < 50000; i++) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                }
                autoprocs_checkpoint();
        }
        return x;
}

static void worker(void *arg)
{
        autoprocs_chan *chan = arg;
        uint64_t item, sink = 0;

        while (autoprocs_chan_recv(chan, &item) == 0) {
                sink ^= work(item);
                atomic_fetch_add(&items_done, 1);
        }
        atomic_fetch_xor(&checksum, sink);
}

static void producer(void *arg)
{
        autoprocs_chan *chan = arg;

        for (uint64_t i = 1; !atomic_load(&stopping); i++)
                if (autoprocs_chan_send(chan, &i) < 0)
                        break;
        autoprocs_chan_close(chan);
}

static int usage(FILE *f, int rc)
{
        fputs("Usage: autoprocs-example [--seconds N] [--workers W] [--interval-ms MS]\n"
              "                         [--policy go125|ceil|floor|automaxprocs] [--root DIR]\n",
              f);
        return rc;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "seconds", required_argument, NULL, 's' },
                { "workers", required_argument, NULL, 'w' },
                { "interval-ms", required_argument, NULL, 'i' },
                { "policy", required_argument, NULL, 'p' },
                { "root", required_argument, NULL, 'r' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        unsigned long seconds = 0, workers = 4;
        autoprocs_config *config = NULL;
        autoprocs_chan *chan = NULL;
        autoprocs_policy policy;
        struct timespec tick = { .tv_nsec = 2 * 1000 * 1000 };
        sigset_t sigs;
        double deadline;
        unsigned shown = 0;
        char *end;
        int c, r;

        if (autoprocs_config_new(&config) < 0)
                return 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                errno = 0;
                switch (c) {
                case 's':
                        seconds = strtoul(optarg, &end, 10);
                        if (errno || *end || optarg[0] == '-')
                                return usage(stderr, 2);
                        break;
                case 'w':
                        workers = strtoul(optarg, &end, 10);
                        if (errno || *end || workers > 1024 || optarg[0] == '-')
                                return usage(stderr, 2);
                        break;
                case 'i': {
                        unsigned long ms = strtoul(optarg, &end, 10);

                        if (errno || *end || optarg[0] == '-' || ms > 3600000 ||
                            autoprocs_config_set_interval_ns(config, ms * 1000000u) < 0) {
                                fprintf(stderr, "--interval-ms: 0 or 10..3600000\n");
                                return 2;
                        }
                        break;
                }
                case 'p':
                        if (autoprocs_policy_from_string(optarg, &policy) < 0) {
                                fprintf(stderr, "--policy: unknown policy '%s'\n", optarg);
                                return 2;
                        }
                        (void)autoprocs_config_set_policy(config, policy);
                        break;
                case 'r':
                        if (autoprocs_config_set_root(config, optarg) < 0)
                                return usage(stderr, 2);
                        break;
                case 'h':
                        return usage(stdout, 0);
                default:
                        return usage(stderr, 2);
                }
        }
        (void)autoprocs_config_set_log_callback(config, on_log, NULL);
        (void)autoprocs_config_set_procs_changed_callback(config, on_procs_changed, NULL);

        /* Signals are taken synchronously by the main loop, never by a runtime thread. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);

        r = autoprocs_init(config);
        config = autoprocs_config_free(config);
        if (r < 0) {
                fprintf(stderr, "autoprocs_init: %s\n", strerror(-r));
                return 1;
        }

        if (workers > 0) {
                r = autoprocs_chan_new(sizeof(uint64_t), 64, &chan);
                if (r == 0)
                        r = autoprocs_spawn(producer, chan, NULL);
                for (unsigned long i = 0; r == 0 && i < workers; i++)
                        r = autoprocs_spawn(worker, chan, NULL);
                if (r < 0) {
                        fprintf(stderr, "starting the worker pool: %s\n", strerror(-r));
                        atomic_store(&stopping, true);
                        autoprocs_shutdown();
                        autoprocs_chan_free(chan);
                        return 1;
                }
        }

        /* Print the count in force whenever it changes; stop on a signal or at the deadline. */
        deadline = seconds ? now_s() + (double)seconds : 0;
        for (;;) {
                unsigned n = autoprocs_procs();

                if (n != shown) {
                        printf("procs %u t=%.6f\n", n, now_s());
                        fflush(stdout);
                        shown = n;
                }
                if (sigtimedwait(&sigs, NULL, &tick) > 0)
                        break;
                if (deadline && now_s() >= deadline)
                        break;
        }

        atomic_store(&stopping, true);
        autoprocs_shutdown(); /* waits for the producer and the workers to finish */
        autoprocs_chan_free(chan);
        printf("done items=%llu checksum=%016llx\n", (unsigned long long)atomic_load(&items_done),
               (unsigned long long)atomic_load(&checksum));
        return 0;
}
