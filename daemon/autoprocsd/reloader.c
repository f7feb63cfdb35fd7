/* SPDX-License-Identifier: MIT */
/*
 * Reloads on their own thread (see reloader.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/autoprocsd/reloader.h"
#include "lib/util/macro.h"

struct ApReloader {
        ApReloadFn fn;
        void *userdata;
        int efd;
        pthread_t thread;
        bool running;
        bool pending;
};

static void *run(void *arg)
{
        ApReloader *r = arg;
        uint64_t one = 1;

        r->fn(r->userdata);
        /* The main loop wakes up and joins us. */
        while (write(r->efd, &one, sizeof(one)) < 0 && errno == EINTR)
                ;
        return NULL;
}

static int start(ApReloader *r)
{
        int k = pthread_create(&r->thread, NULL, run, r);

        if (k != 0)
                return -k;
        r->running = true;
        r->pending = false;
        return 0;
}

int ap_reloader_new(ApReloadFn fn, void *userdata, ApReloader **ret)
{
        ApReloader *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        r->fn = fn;
        r->userdata = userdata;
        r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->efd < 0) {
                int k = AP_NEG_ERRNO();

                free(r);
                return k;
        }
        *ret = r;
        return 0;
}

ApReloader *ap_reloader_free(ApReloader *r)
{
        if (!r)
                return NULL;
        if (r->running)
                (void)pthread_join(r->thread, NULL);
        (void)close(r->efd);
        free(r);
        return NULL;
}

int ap_reloader_fd(const ApReloader *r)
{
        return r->efd;
}

int ap_reloader_request(ApReloader *r)
{
        if (r->running) {
                r->pending = true;
                return 0;
        }
        return start(r);
}

int ap_reloader_dispatch(ApReloader *r)
{
        uint64_t v;

        if (read(r->efd, &v, sizeof(v)) < 0 || !r->running)
                return 0;
        (void)pthread_join(r->thread, NULL);
        r->running = false;
        return r->pending ? start(r) : 0;
}
