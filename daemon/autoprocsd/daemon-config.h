/* SPDX-License-Identifier: MIT */
/*
 * autoprocsd's configuration: command line, AUTOPROCSD_* environment, optional config file.
 *
 * Precedence, per setting: command line > environment > config file > default.  The lists
 * (--listen, --target) are taken whole from the first source that has any.  On SIGHUP only the
 * file is read again (command line and environment do not change); a file that no longer parses
 * leaves the running configuration in force.
 *
 * Config file: "key = value" lines ("key value" works too), '#' starts a comment line; keys are
 * the long option names: listen, target (both may repeat), interval, policy, publish, pod-logs,
 * log-level.
 * Environment: AUTOPROCSD_LISTEN and AUTOPROCSD_TARGETS (whitespace-separated lists),
 * AUTOPROCSD_INTERVAL, AUTOPROCSD_POLICY, AUTOPROCSD_PUBLISH, AUTOPROCSD_POD_LOGS, AUTOPROCSD_LOG_LEVEL,
 * AUTOPROCSD_CONFIG (the file).
 *
 * The file is opened O_NONBLOCK and must be a regular file of at most AP_DAEMON_MAX_CONFIG_FILE
 * bytes holding text (a FIFO, a device, a directory, NUL bytes, other control characters or
 * bytes that are not UTF-8 are refused).  Each value is validated once, where the winning source
 * is applied.  With a publish directory, two targets whose --publish files would have the same
 * name are refused (publish.h: the name mapping).
 *
 * Every error is one line naming the argument, variable or file:line, in *ret_error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "autoprocs.h"

#define AP_DAEMON_DEFAULT_LISTEN "127.0.0.1:9464"
#define AP_DAEMON_DEFAULT_INTERVAL_NS (1000ull * 1000 * 1000)
#define AP_DAEMON_MIN_INTERVAL_NS (100ull * 1000 * 1000)
#define AP_DAEMON_MAX_INTERVAL_NS (3600ull * 1000 * 1000 * 1000)
/* A config file larger than this is refused (a real one is a few hundred bytes). */
#define AP_DAEMON_MAX_CONFIG_FILE (1024u * 1024u)

typedef enum ApTargetKind {
        AP_TARGET_SELF,
        AP_TARGET_PID,
        AP_TARGET_CGROUP,
        AP_TARGET_ROOT,
        AP_TARGET_COMM,   /* comm:NAME, the lowest pid whose /proc/PID/comm is NAME (a sidecar's app) */
        AP_TARGET_KUBEPODS,    /* kubepods[:DIR]: every pod container below the cgroupfs DIR */
        AP_TARGET_CGROUP_TREE, /* cgroup-tree:PATH: every container cgroup below PATH */
} ApTargetKind;

/* kubepods without DIR: the cgroup mounts of this process. */
#define AP_DAEMON_DEFAULT_CGROUPFS "/sys/fs/cgroup"
/* --pod-logs default, used when it holds pods/. */
#define AP_DAEMON_DEFAULT_POD_LOGS "/var/log"

typedef struct ApTargetSpec {
        ApTargetKind kind;
        int pid;          /* AP_TARGET_PID */
        char *path;       /* AP_TARGET_CGROUP, AP_TARGET_ROOT, KUBEPODS (DIR), CGROUP_TREE; the name of
                           * AP_TARGET_COMM */
        char *label;      /* the spec as written: the metrics' target label */
} ApTargetSpec;

typedef struct ApListenAddr {
        struct sockaddr_storage sa;
        socklen_t salen;
        char *text;       /* as written */
} ApListenAddr;

typedef struct ApDaemonConfig {
        ApListenAddr *listen;
        size_t n_listen;            /* 0: socket activation, else the default */
        ApTargetSpec *targets;
        size_t n_targets;           /* >= 1 after ap_daemon_config_load() */
        uint64_t interval_ns;
        autoprocs_policy policy;
        char *publish_dir;          /* NULL: no publishing */
        char *pod_logs_dir;         /* NULL: no names for discovered pods */
        autoprocs_log_level log_level;
        char *config_file;          /* NULL: none */
} ApDaemonConfig;

/* The command line and environment, kept for reloads. */
typedef struct ApDaemonArgs {
        char **listen;
        size_t n_listen;
        char **targets;
        size_t n_targets;
        char *interval, *policy, *publish, *log_level, *config_file, *pod_logs;
        bool help, version;
} ApDaemonArgs;

/* Parse the command line.  @retval 0  @retval -EINVAL (*ret_error: one line, malloc'd)  @retval -ENOMEM */
int ap_daemon_args_parse(int argc, char **argv, ApDaemonArgs *ret, char **ret_error);
void ap_daemon_args_done(ApDaemonArgs *a);
void ap_daemon_usage(void);

/* Build a configuration from @args, the environment and the config file.
 * @retval 0  @retval -EINVAL (*ret_error)  @retval -ENOMEM */
int ap_daemon_config_load(const ApDaemonArgs *args, ApDaemonConfig *ret, char **ret_error);
void ap_daemon_config_done(ApDaemonConfig *c);

/* Parse one target spec: self, pid:N, cgroup:PATH, root:DIR, comm:NAME, kubepods[:DIR],
 * cgroup-tree:PATH.  @retval 0  @retval -EINVAL
 * (*ret_why: static text)  @retval -ENOMEM */
int ap_target_spec_parse(const char *s, ApTargetSpec *ret, const char **ret_why);
void ap_target_spec_done(ApTargetSpec *t);

/* Parse "A.B.C.D:PORT" or "[V6]:PORT".  @retval 0  @retval -EINVAL (*ret_why) */
int ap_listen_addr_parse(const char *s, ApListenAddr *ret, const char **ret_why);
