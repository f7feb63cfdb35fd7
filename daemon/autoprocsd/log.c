/* SPDX-License-Identifier: MIT */
/*
 * Logging of autoprocsd (see log.h).  The sink is chosen once: journald (structured fields) when
 * $JOURNAL_STREAM names our stderr, else plain lines on stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/autoprocsd/log.h"
#include "daemon/autoprocsd/notify.h"

static atomic_int log_level = AUTOPROCS_LOG_INFO;
static bool to_journal;

static const char *const level_names[] = {
        [AUTOPROCS_LOG_ERR] = "err",
        [AUTOPROCS_LOG_WARNING] = "warning",
        [AUTOPROCS_LOG_NOTICE] = "notice",
        [AUTOPROCS_LOG_INFO] = "info",
        [AUTOPROCS_LOG_DEBUG] = "debug",
};

void ap_daemon_log_set_level(autoprocs_log_level level)
{
        atomic_store(&log_level, (int)level);
}

autoprocs_log_level ap_daemon_log_get_level(void)
{
        return (autoprocs_log_level)atomic_load(&log_level);
}

int ap_daemon_log_level_from_string(const char *s, autoprocs_log_level *ret)
{
        for (int l = AUTOPROCS_LOG_ERR; l <= AUTOPROCS_LOG_DEBUG; l++) {
                if (strcmp(s, level_names[l]) == 0) {
                        *ret = (autoprocs_log_level)l;
                        return 0;
                }
        }
        if (strcmp(s, "error") == 0) {
                *ret = AUTOPROCS_LOG_ERR;
                return 0;
        }
        return -EINVAL;
}

void ap_daemon_log_open(void)
{
        const char *js = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        /* systemd sets JOURNAL_STREAM=DEV:INO of the stream it connected; a child that inherited
         * the variable but had stderr redirected must not log to the journal. */
        to_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                     (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool ap_daemon_log_to_journal(void)
{
        return to_journal;
}

static void log_message(autoprocs_log_level level, const char *event, const char *target,
                        const char *message)
{
        char line[2048];
        int n;

        if ((int)level > atomic_load(&log_level))
                return;
        if (to_journal) {
                char ev[128], tg[1024];
                const char *fields[3] = { NULL };
                size_t k = 0;

                if (event) {
                        (void)snprintf(ev, sizeof(ev), "AUTOPROCS_EVENT=%s", event);
                        fields[k++] = ev;
                }
                if (target) {
                        (void)snprintf(tg, sizeof(tg), "AUTOPROCS_TARGET=%s", target);
                        fields[k++] = tg;
                }
                if (ap_journal_send((int)level, message, fields) >= 0)
                        return;
        }
        if (level <= AUTOPROCS_LOG_WARNING)
                n = snprintf(line, sizeof(line), "autoprocsd: %s: %s\n", level_names[level], message);
        else
                n = snprintf(line, sizeof(line), "autoprocsd: %s\n", message);
        if (n < 0)
                return;
        if ((size_t)n >= sizeof(line)) {
                n = sizeof(line) - 1;
                line[n - 1] = '\n';
        }
        /* One write per entry: lines from several threads never interleave. */
        (void)!write(STDERR_FILENO, line, (size_t)n);
}

void ap_daemon_log(autoprocs_log_level level, const char *event, const char *target, const char *fmt, ...)
{
        char msg[1536];
        va_list ap;

        if ((int)level > atomic_load(&log_level))
                return;
        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_message(level, event, target, msg);
}

void ap_daemon_log_library(autoprocs_log_level level, const char *event, const char *message,
                    void *userdata)
{
        (void)userdata;
        if (level < AUTOPROCS_LOG_ERR || level > AUTOPROCS_LOG_DEBUG)
                level = AUTOPROCS_LOG_NOTICE;
        log_message(level, event, "self", message);
}
