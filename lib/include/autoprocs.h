/* SPDX-License-Identifier: MIT */
/*
 * autoprocs: size a process to the CPU it really has.
 *
 * The only installed header.  Three parts:
 *   1. configuration      autoprocs_config (opaque), shared by detection, init and the runtime;
 *   2. detection          autoprocs_detect() -> autoprocs_facts (opaque, owned by the caller);
 *                         pure, starts no thread, usable from any thread;
 *   3. the runtime        autoprocs_init()/autoprocs_shutdown() start an M:N scheduler sized by
 *                         detection and kept sized by a watcher; green tasks, channels, wait
 *                         groups, mutexes, sleeping, blocking regions.
 *
 * Conventions: functions returning int return 0 (or a documented value >= 0) on success and a
 * negative errno on failure.  Output parameters start with ret_ and are written only on success.
 * Every object has a _free() that accepts NULL and returns NULL.  Strings returned as const char *
 * are borrowed from the object that returned them and live as long as it does.
 *
 * Time: every duration, deadline and CPU time in this API is in nanoseconds (uint64_t, names
 * ending in _ns); deadlines are CLOCK_MONOTONIC (autoprocs_now_ns()).
 *
 * Output structs that the caller allocates (autoprocs_stats, autoprocs_throttling,
 * autoprocs_pressure) are filled through a size: pass sizeof(*ret).  Fields are only ever added
 * at the end; the library fills what it knows up to @size and zeroes the rest, so a program
 * built against an older or newer header keeps working.  A size below the first version's is
 * -EINVAL.  Structs the library hands to a callback start with their own size.
 *
 * Caller errors (NULL objects, out-of-range values) are returned as -EINVAL, never asserted.
 */
#ifndef AUTOPROCS_H
#define AUTOPROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AUTOPROCS_VERSION_MAJOR 0
#define AUTOPROCS_VERSION_MINOR 1
#define AUTOPROCS_VERSION_PATCH 0

#if defined(__GNUC__)
#define AUTOPROCS_API __attribute__((visibility("default")))
#else
#define AUTOPROCS_API
#endif

/** The library's version as "MAJOR.MINOR.PATCH"; static storage. */
AUTOPROCS_API const char *autoprocs_version(void);

/* ---------------------------------------------------------------------------------------------
 * 1. Configuration
 * ------------------------------------------------------------------------------------------- */

/** Rounding policy: how a fractional CPU limit becomes a processor count (autoprocs(1)). */
typedef enum autoprocs_policy {
        AUTOPROCS_POLICY_GO125 = 0,        /* min(A, max(2, ceil(Q))); A = 1 gives 1 (default) */
        AUTOPROCS_POLICY_CEIL = 1,         /* min(A, max(1, ceil(Q))) */
        AUTOPROCS_POLICY_FLOOR = 2,        /* min(A, max(1, floor(Q))) */
        AUTOPROCS_POLICY_AUTOMAXPROCS = 3, /* max(MIN, floor(Q)), not capped by A */
} autoprocs_policy;

/** Fractional pacing of the embedded runtime (autoprocs_init): with a limit of Q CPUs the
 *  process spends at most Q (less a 5 % headroom) over every short window, evenly, so that
 *  the kernel does not throttle it (README "Fractional pacing"). */
typedef enum autoprocs_pacing {
        AUTOPROCS_PACING_AUTO = 0,  /* on when the binding limit is fractional and below the
                                     * affinity count (default) */
        AUTOPROCS_PACING_ON = 1,    /* on whenever a limit below the affinity count binds */
        AUTOPROCS_PACING_OFF = 2,
} autoprocs_pacing;

/** Parse "auto", "on", "off".  @retval 0 ok  @retval -EINVAL unknown name. */
AUTOPROCS_API int autoprocs_pacing_from_string(const char *name, autoprocs_pacing *ret_pacing);

/** Parse "go125", "ceil", "floor", "automaxprocs".  @retval 0 ok  @retval -EINVAL unknown name. */
AUTOPROCS_API int autoprocs_policy_from_string(const char *name, autoprocs_policy *ret_policy);
/** The policy's name; "unknown" for a value outside the enum.  Static storage. */
AUTOPROCS_API const char *autoprocs_policy_to_string(autoprocs_policy policy);

/** Log levels, as syslog's. */
typedef enum autoprocs_log_level {
        AUTOPROCS_LOG_ERR = 3,
        AUTOPROCS_LOG_WARNING = 4,
        AUTOPROCS_LOG_NOTICE = 5,
        AUTOPROCS_LOG_INFO = 6,
        AUTOPROCS_LOG_DEBUG = 7,
} autoprocs_log_level;

/**
 * A structured library event.  The library never prints: it hands events to the log callback.
 * @event is a stable identifier ("limit-changed", "resize", "config-invalid", "probe-failed",
 * "hog", "thread-cap"), @message a one-line human text.  Both are borrowed for the call only.
 */
typedef void (*autoprocs_log_fn)(autoprocs_log_level level, const char *event, const char *message,
                                 void *userdata);

/**
 * Called with the old and new recommended processor counts whenever the watcher changes the
 * runtime's size (and once from autoprocs_init() with old = 0).  Runs on the watcher thread, outside
 * every library lock; it may call any autoprocs_* function except autoprocs_shutdown().
 */
typedef void (*autoprocs_procs_changed_fn)(unsigned old_procs, unsigned new_procs, void *userdata);

typedef struct autoprocs_config autoprocs_config;

/**
 * A configuration with the defaults: policy go125, min 0 (none), reserve 0, the live system
 * (root "/", pid self), watch interval 1 s, stack 64 KiB, thread cap 10000, no callbacks.
 * The environment (AUTOPROCS_*) is applied by autoprocs_init(), not here.
 * @retval 0 ok  @retval -ENOMEM
 */
AUTOPROCS_API int autoprocs_config_new(autoprocs_config **ret_config);
AUTOPROCS_API autoprocs_config *autoprocs_config_free(autoprocs_config *config);

/* Setters: return 0, or -EINVAL for an out-of-range value (config unchanged). */
AUTOPROCS_API int autoprocs_config_set_policy(autoprocs_config *config, autoprocs_policy policy);
/** Lowest processor count any policy may return; 0 = the policy's own minimum. */
AUTOPROCS_API int autoprocs_config_set_min(autoprocs_config *config, unsigned min_procs);
/** CPUs to subtract from the limit before rounding, in millicpus (1500 = 1.5 CPUs). */
AUTOPROCS_API int autoprocs_config_set_reserve_millicpus(autoprocs_config *config, uint64_t millicpus);
/** Read every procfs/sysfs file below @dir instead of "/" (a fixture tree); NULL = "/".  Copied. */
AUTOPROCS_API int autoprocs_config_set_root(autoprocs_config *config, const char *dir);
/** Describe process @pid (0 = self): its /proc/PID/{cgroup,mountinfo}, and without a root set,
 *  mount points resolved under /proc/PID/root and PID's affinity. */
AUTOPROCS_API int autoprocs_config_set_pid(autoprocs_config *config, int pid);
/** Describe a cgroup directory directly (absolute path on the live system, or relative to the root
 *  when one is set) instead of a process's cgroup.  The walk goes up to its mount point.  A path that
 *  is no directory is read as a hierarchy path, as detect prints it ("/kubepods/pod1"), below the
 *  mount of the cpu hierarchy.  Copied. */
AUTOPROCS_API int autoprocs_config_set_cgroup_dir(autoprocs_config *config, const char *dir);
/** Fix the processor count (no detection-driven sizing, no watching); 0 = detect. */
AUTOPROCS_API int autoprocs_config_set_procs(autoprocs_config *config, unsigned procs);
/** Watcher interval in ns, whole milliseconds from 10 ms to 3600 s; 0 disables watching. */
AUTOPROCS_API int autoprocs_config_set_interval_ns(autoprocs_config *config, uint64_t interval_ns);
/** Usable stack size of each task in bytes (rounded up to pages), 16 KiB .. 64 MiB. */
AUTOPROCS_API int autoprocs_config_set_stack_size(autoprocs_config *config, size_t bytes);
/** Fractional pacing (autoprocs_pacing; default auto; AUTOPROCS_PACING overrides). */
AUTOPROCS_API int autoprocs_config_set_pacing(autoprocs_config *config, autoprocs_pacing pacing);
/** Cap on the runtime's OS threads, 1 .. 100000. */
AUTOPROCS_API int autoprocs_config_set_max_threads(autoprocs_config *config, unsigned max_threads);
/** Most tasks inside blocking regions at once (autoprocs_block_begin, file I/O), 0 .. 100000;
 *  0 = 4 per processor in force (the default).  Beyond it block_begin waits in a FIFO instead of
 *  costing a thread.  Environment: AUTOPROCS_MAX_BLOCKING. */
AUTOPROCS_API int autoprocs_config_set_max_blocking(autoprocs_config *config, unsigned max_blocking);
AUTOPROCS_API int autoprocs_config_set_log_callback(autoprocs_config *config, autoprocs_log_fn fn,
                                                    void *userdata);
AUTOPROCS_API int autoprocs_config_set_procs_changed_callback(autoprocs_config *config,
                                                              autoprocs_procs_changed_fn fn,
                                                              void *userdata);

/* ---------------------------------------------------------------------------------------------
 * 2. Detection
 * ------------------------------------------------------------------------------------------- */

typedef struct autoprocs_facts autoprocs_facts;

/**
 * Detect the CPU facts of the process or cgroup described by @config (NULL = defaults: this
 * process on the live system) and apply its policy.  Starts no thread; thread-safe.
 * A fact that cannot be read is left unknown and a warning is recorded: one odd file never fails
 * detection.
 * @retval 0 ok, *ret_facts is the caller's (autoprocs_facts_free)
 * @retval -ENOMEM
 * @retval -ENOENT not even a fallback CPU count could be found
 * @retval -EINVAL bad @config
 * @retval -ENOTDIR the cgroup directory set is neither a directory nor a mounted hierarchy's path
 */
AUTOPROCS_API int autoprocs_detect(const autoprocs_config *config, autoprocs_facts **ret_facts);
AUTOPROCS_API autoprocs_facts *autoprocs_facts_free(autoprocs_facts *facts);

/** 0 = no cgroup hierarchy holds the cpu controller for this process, else 1 or 2. */
AUTOPROCS_API int autoprocs_facts_cgroup_version(const autoprocs_facts *facts);
/** The process's cgroup path as written in /proc/PID/cgroup; NULL if unknown. */
AUTOPROCS_API const char *autoprocs_facts_cgroup_path(const autoprocs_facts *facts);
/** True when a CPU bandwidth limit binds; then the next four are meaningful. */
AUTOPROCS_API bool autoprocs_facts_has_limit(const autoprocs_facts *facts);
/** The binding quota and period in ns (the kernel's µs values times 1000); 0 without a limit. */
AUTOPROCS_API uint64_t autoprocs_facts_quota_ns(const autoprocs_facts *facts);
AUTOPROCS_API uint64_t autoprocs_facts_period_ns(const autoprocs_facts *facts);
/** quota/period as a double (for display; the policy itself uses integers). */
AUTOPROCS_API double autoprocs_facts_limit_cpus(const autoprocs_facts *facts);
/** The hierarchy-relative cgroup whose files bind, e.g. "/kubepods/pod1". */
AUTOPROCS_API const char *autoprocs_facts_limit_cgroup(const autoprocs_facts *facts);
/** The file whose value binds, as a path below the root, e.g.
 *  "/sys/fs/cgroup/kubepods/pod1/cpu.max" (v1: the cpu.cfs_quota_us beside its cpu.cfs_period_us);
 *  NULL without a limit. */
AUTOPROCS_API const char *autoprocs_facts_limit_file(const autoprocs_facts *facts);
/** CPUs allowed by affinity / cpuset; 0 if unknown. */
AUTOPROCS_API unsigned autoprocs_facts_affinity_cpus(const autoprocs_facts *facts);
/** What bounds the affinity count: "cpuset" (the cgroup's cpuset has that many CPUs, fewer than
 *  the online ones) or "affinity" (the affinity mask, or the online CPUs); NULL if unknown.
 *  Static storage. */
AUTOPROCS_API const char *autoprocs_facts_affinity_source(const autoprocs_facts *facts);
/** The recommended processor count under the policy; never 0. */
AUTOPROCS_API unsigned autoprocs_facts_procs(const autoprocs_facts *facts);
AUTOPROCS_API autoprocs_policy autoprocs_facts_policy(const autoprocs_facts *facts);

typedef struct autoprocs_throttling {
        uint64_t nr_periods;
        uint64_t nr_throttled;
        uint64_t throttled_ns;
        bool has_usage;
        uint64_t usage_ns;       /* CPU time used by the cgroup, if has_usage */
} autoprocs_throttling;
/** cpu.stat of the binding cgroup (or the process cgroup when unlimited), @size = sizeof(*ret).
 *  @retval 0 ok  @retval -ENODATA not available  @retval -EINVAL */
AUTOPROCS_API int autoprocs_facts_throttling(const autoprocs_facts *facts, autoprocs_throttling *ret,
                                             size_t size);

typedef struct autoprocs_pressure {
        double some_avg10, some_avg60, some_avg300; /* percent */
        uint64_t some_total_ns;
        bool has_full;
        double full_avg10, full_avg60, full_avg300;
        uint64_t full_total_ns;
} autoprocs_pressure;
/** CPU PSI of the process cgroup, @size = sizeof(*ret).
 *  @retval 0 ok  @retval -ENODATA not available  @retval -EINVAL */
AUTOPROCS_API int autoprocs_facts_pressure(const autoprocs_facts *facts, autoprocs_pressure *ret,
                                           size_t size);

AUTOPROCS_API size_t autoprocs_facts_warning_count(const autoprocs_facts *facts);
/** The i-th warning ("FILE: why": a file missing, unreadable or malformed); NULL past the end. */
AUTOPROCS_API const char *autoprocs_facts_warning(const autoprocs_facts *facts, size_t i);
AUTOPROCS_API size_t autoprocs_facts_note_count(const autoprocs_facts *facts);
/** The i-th note: how a fact was found, no fault (a cgroup found by its cgroup.procs below a
 *  "/.." mount root); NULL past the end. */
AUTOPROCS_API const char *autoprocs_facts_note(const autoprocs_facts *facts, size_t i);

/**
 * The facts as the JSON object `autoprocs detect --json` prints (docs/schema/detect.json): one
 * line, no trailing newline.
 * @retval 0 ok, *ret_json is the caller's (free())  @retval -ENOMEM
 */
AUTOPROCS_API int autoprocs_facts_to_json(const autoprocs_facts *facts, char **ret_json);

/* ---------------------------------------------------------------------------------------------
 * 2b. The one-call answer, and a watcher without the runtime
 * ------------------------------------------------------------------------------------------- */

/**
 * How many threads this process should run CPU-bound work on, in one call (as libuv's
 * uv_available_parallelism(), but counting the cgroup CPU limit): the AUTOPROCS_* environment as
 * for autoprocs_init() (AUTOPROCS_PROCS fixes it; a bad value is ignored silently), then a full
 * detection of this process under the default policy (go125); if detection finds nothing, the
 * affinity count; if even that fails, 1.  Never fails, never returns 0.  Starts no thread, logs
 * nothing, thread-safe; costs one detection (about 0.1 ms): call it once, or use a watcher.
 */
AUTOPROCS_API unsigned autoprocs_available_procs(void);

/** What a watcher saw; borrowed for the callback only.  Fields may be added at the end only:
 *  read a field only if it lies within @size. */
typedef struct autoprocs_watch_event {
        size_t size;             /* sizeof the event the library filled */
        unsigned procs;          /* the recommendation; 0 = unknown (nothing readable this tick) */
        unsigned old_procs;      /* procs of the previous call; 0 on the first call */
        bool has_limit;          /* a CPU bandwidth limit binds; then quota_ns/period_ns */
        uint64_t quota_ns;
        uint64_t period_ns;
        unsigned affinity_cpus;  /* CPUs allowed by affinity / cpuset; 0 if unknown */
        bool moved;              /* re-resolved: the process moved cgroup or the mounts changed */
} autoprocs_watch_event;

/**
 * Called by a watcher once at start and then at each change of the answer (limit, affinity or
 * recommendation, each confirmed by a second read 1 ms later), and once when the limit cannot
 * be read any more on two ticks in a row (procs 0; a file caught half written is not reported).  Runs on the watcher's own thread, never concurrently with itself,
 * with no library lock held; it may call any autoprocs_* function, including
 * autoprocs_watch_stop() on its own watcher (which then ends after the callback returns).
 */
typedef void (*autoprocs_watch_fn)(const autoprocs_watch_event *event, void *userdata);

typedef struct autoprocs_watch autoprocs_watch;

/**
 * Watch the process or cgroup that @config describes (NULL = this process, 1 s interval; the
 * config's policy, min, reserve, root, pid, cgroup dir and interval apply; it is copied; the
 * environment does not apply) on a thread of its own, for programs that size their own thread
 * pools and do not want the M:N runtime (which this never starts).  Each tick re-reads the
 * resolved limit through cached file descriptors (a few microseconds).
 * @retval 0 started; *ret_watch is the caller's (autoprocs_watch_stop)
 * @retval -EINVAL no @fn or @ret_watch, or an interval of 0
 * @retval -ENOMEM  @retval -errno the root or thread could not be set up
 */
AUTOPROCS_API int autoprocs_watch_start(const autoprocs_config *config, autoprocs_watch_fn fn, void *userdata,
                                        autoprocs_watch **ret_watch);
/** Stop the watcher, wait for a callback in progress to return, free it.  NULL is a no-op.  From
 *  the watcher's own callback it returns at once; the watcher ends when the callback returns. */
AUTOPROCS_API void autoprocs_watch_stop(autoprocs_watch *watch);

/* ---------------------------------------------------------------------------------------------
 * 3. The runtime
 * ------------------------------------------------------------------------------------------- */

/**
 * Detect, size and start the embedded runtime, and start the watcher that keeps it sized.
 * @config may be NULL (defaults) and is copied.  The environment overrides it:
 * AUTOPROCS_PROCS=N (fixed count, no watching), AUTOPROCS_POLICY, AUTOPROCS_MIN, AUTOPROCS_RESERVE
 * (CPUs, e.g. 0.5), AUTOPROCS_INTERVAL (e.g. 1s, 250ms), AUTOPROCS_MAX_BLOCKING (tasks),
 * AUTOPROCS_PACING (auto|on|off), AUTOPROCS_STACK_GUARD (auto|always|never: guard pages below
 * task stacks); a bad value is reported through the log callback and ignored.  Thread-safe and idempotent: a second call while running returns 1.
 * @retval 0 started  @retval 1 already running  @retval -errno
 */
AUTOPROCS_API int autoprocs_init(const autoprocs_config *config);
/** Stop the watcher, wait for every task to finish, stop the runtime's threads.  Idempotent.
 *  Must not be called from a task or a callback. */
AUTOPROCS_API void autoprocs_shutdown(void);

/** The processor count in force (0 when the runtime is not running). */
AUTOPROCS_API unsigned autoprocs_procs(void);
/** Resize the runtime now (the watcher may change it again at its next change of limit unless a
 *  fixed count was configured).  Returns at once; the new size is in force when every removed
 *  processor has reached a scheduling point.  @retval 0  @retval -EINVAL n = 0  @retval -ESRCH */
AUTOPROCS_API int autoprocs_procs_set(unsigned procs);
/** Wait up to @timeout_ns for the size requested last to be in force.
 *  @retval 0 in force (or the runtime is not running)  @retval -ETIMEDOUT */
AUTOPROCS_API int autoprocs_procs_wait(uint64_t timeout_ns);

typedef struct autoprocs_task autoprocs_task;
typedef void (*autoprocs_task_fn)(void *arg);

/**
 * Start a green task running fn(arg).  Callable from a task or any other thread.
 * With @ret_task NULL the task is detached; else the caller must autoprocs_task_join() it once.
 * @retval 0  @retval -ENOMEM  @retval -ESRCH runtime not running
 */
AUTOPROCS_API int autoprocs_spawn(autoprocs_task_fn fn, void *arg, autoprocs_task **ret_task);
/** Wait for @task to finish and release it.  From a task it parks the task; from another thread
 *  it blocks that thread.  @retval 0  @retval -EINVAL */
AUTOPROCS_API int autoprocs_task_join(autoprocs_task *task);
/** True when called from a task. */
AUTOPROCS_API bool autoprocs_in_task(void);
/** Let other tasks run (sched_yield() outside a task). */
AUTOPROCS_API void autoprocs_yield(void);
/** A scheduling point: yields only if the monitor has asked this task to (its 10 ms time slice
 *  ran out), and tells the hog detector the task is alive; a store and two loads when not asked.
 *  Every other task-API call is a scheduling point too. */
AUTOPROCS_API void autoprocs_checkpoint(void);
/** Sleep at least @ns nanoseconds (parks the task; nanosleep() outside a task). */
AUTOPROCS_API void autoprocs_sleep_ns(uint64_t ns);
/** Bracket a blocking system or foreign call: the processor is handed to another thread while this
 *  one waits.  Must be paired on the same task; no-ops outside a task. */
AUTOPROCS_API void autoprocs_block_begin(void);
AUTOPROCS_API void autoprocs_block_end(void);

/* I/O on the netpoller.  A task that would block on a socket, pipe, eventfd, epoll fd or other
 * pollable fd parks on the runtime's edge-triggered epoll set instead of holding a thread; a
 * regular file (or anything epoll refuses) is read and written inside a blocking region.  The
 * first call on an fd puts it in non-blocking mode (O_NONBLOCK is shared by every dup of it).
 * Deadlines are CLOCK_MONOTONIC times in ns (autoprocs_now_ns() + timeout), 0 = none; a call
 * whose deadline passes returns -ETIMEDOUT.  One task at a time may wait in each direction of
 * an fd (-EBUSY otherwise).  An fd used here must be closed with autoprocs_fd_close(), which
 * wakes its waiters with -ECANCELED.  Outside a task (or inside a blocking region) the calls
 * wait in poll(2) on the calling thread.  Results are >= 0 or a negative errno. */
#define AUTOPROCS_FD_READ 1u
#define AUTOPROCS_FD_WRITE 2u

/** CLOCK_MONOTONIC now, in ns (the clock of every deadline). */
AUTOPROCS_API uint64_t autoprocs_now_ns(void);
/** Wait until @fd is readable or writable (@events: AUTOPROCS_FD_READ or AUTOPROCS_FD_WRITE;
 *  both only outside a task).  May return 0 spuriously: retry the operation.
 *  @retval 0 ready  @retval -ETIMEDOUT  @retval -ECANCELED closed by autoprocs_fd_close()
 *  @retval -EBUSY  @retval -EBADF  @retval -EINVAL */
AUTOPROCS_API int autoprocs_fd_wait(int fd, unsigned events, uint64_t deadline_ns);
/** read(2): returns the bytes read (0 at end of file) once any are available. */
AUTOPROCS_API ssize_t autoprocs_read(int fd, void *buf, size_t len, uint64_t deadline_ns);
/** write(2) of all @len bytes: returns @len, or the bytes written before an error or the
 *  deadline stopped it, or -errno if none were. */
AUTOPROCS_API ssize_t autoprocs_write(int fd, const void *buf, size_t len, uint64_t deadline_ns);
/** recv(2) with @flags. */
AUTOPROCS_API ssize_t autoprocs_recv(int fd, void *buf, size_t len, int flags, uint64_t deadline_ns);
/** send(2) of all @len bytes with @flags (MSG_NOSIGNAL is added); as autoprocs_write(). */
AUTOPROCS_API ssize_t autoprocs_send(int fd, const void *buf, size_t len, int flags,
                                     uint64_t deadline_ns);
/** accept4(2) with @flags (SOCK_CLOEXEC ...); the new fd is non-blocking.  @retval fd */
AUTOPROCS_API int autoprocs_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
                                   uint64_t deadline_ns);
/** connect(2), waiting for the connection to complete.  @retval 0  @retval -errno */
AUTOPROCS_API int autoprocs_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
                                    uint64_t deadline_ns);
/** Wake the tasks waiting on @fd (they get -ECANCELED), forget it, close(2) it.
 *  @retval 0  @retval -errno of close(2) */
AUTOPROCS_API int autoprocs_fd_close(int fd);
/** Stop watching @fd without closing it (before handing it to code that closes it itself, such
 *  as a library with its own event loop): its waiters get -ECANCELED.  It stays non-blocking.
 *  @retval 0  @retval -EBADF */
AUTOPROCS_API int autoprocs_fd_release(int fd);

typedef struct autoprocs_chan autoprocs_chan;
/** A channel of @capacity elements (0 = unbuffered) of @elem_size bytes (1 .. 65536). */
AUTOPROCS_API int autoprocs_chan_new(size_t elem_size, size_t capacity, autoprocs_chan **ret_chan);
/** Free a channel no task uses any more. */
AUTOPROCS_API autoprocs_chan *autoprocs_chan_free(autoprocs_chan *chan);
/** Send a copy of *elem.  @retval 0  @retval -EPIPE closed  @retval -EPERM not in a task */
AUTOPROCS_API int autoprocs_chan_send(autoprocs_chan *chan, const void *elem);
/** Receive into *ret_elem.  @retval 0  @retval -EPIPE closed and drained  @retval -EPERM */
AUTOPROCS_API int autoprocs_chan_recv(autoprocs_chan *chan, void *ret_elem);
AUTOPROCS_API void autoprocs_chan_close(autoprocs_chan *chan);

typedef struct autoprocs_wg autoprocs_wg;
AUTOPROCS_API int autoprocs_wg_new(autoprocs_wg **ret_wg);
AUTOPROCS_API autoprocs_wg *autoprocs_wg_free(autoprocs_wg *wg);
/** Add @delta (may be negative) to the counter; at 0 the waiters wake.
 *  @retval 0  @retval -EINVAL no @wg, or the counter would go below 0 (it is left unchanged) */
AUTOPROCS_API int autoprocs_wg_add(autoprocs_wg *wg, int64_t delta);
/** autoprocs_wg_add(wg, -1). */
AUTOPROCS_API int autoprocs_wg_done(autoprocs_wg *wg);
/** Wait until the counter is 0 (parks a task; blocks any other thread). */
AUTOPROCS_API void autoprocs_wg_wait(autoprocs_wg *wg);

typedef struct autoprocs_mutex autoprocs_mutex;
AUTOPROCS_API int autoprocs_mutex_new(autoprocs_mutex **ret_mutex);
AUTOPROCS_API autoprocs_mutex *autoprocs_mutex_free(autoprocs_mutex *mutex);
AUTOPROCS_API void autoprocs_mutex_lock(autoprocs_mutex *mutex);
/** @retval 0  @retval -EINVAL no @mutex  @retval -EPERM it was not locked (nothing changes) */
AUTOPROCS_API int autoprocs_mutex_unlock(autoprocs_mutex *mutex);

/** Counters of the runtime, for metrics.  Fields may be added at the end only (see the top). */
typedef struct autoprocs_stats {
        uint32_t procs;            /* processors in force */
        uint32_t procs_target;     /* processors requested last */
        uint32_t threads;          /* OS threads of the runtime (workers + monitor) */
        uint32_t threads_idle;
        uint64_t tasks_alive;
        uint64_t tasks_spawned;
        uint64_t context_switches;
        uint64_t steals;
        uint64_t handoffs;         /* processors handed off around blocking regions */
        uint64_t hogs;             /* tasks seen using 10 ms of CPU without a scheduling point */
        uint64_t resizes_up;
        uint64_t resizes_down;
        uint64_t thread_cap_hits;
        uint64_t stacks_guarded;
        uint64_t stacks_unguarded;
        uint64_t last_resize_ns;   /* latency of the last completed resize */
        /* fractional pacing (autoprocs_config_set_pacing) */
        uint32_t pacing;                 /* 1 while pacing is on */
        uint32_t pace_factor_ppm;        /* kernel feedback factor, 1000000 = none */
        uint64_t pace_limit_millicpus;   /* the limit paced to */
        uint64_t pace_share_millicpus;   /* the share the runtime's workers may use */
        uint64_t pace_others_millicpus;  /* CPU of the process's other threads and the cgroup's
                                          * other processes, taken off the share */
        uint64_t pace_held_ns;           /* time worker threads were held back, summed */
        uint64_t pace_holds;             /* hold-backs (at scheduling points or by the signal) */
        uint64_t pace_signal_holds;      /* ... of them by the CPU-clock signal (no scheduling point) */
        uint64_t pace_throttled_periods; /* throttled periods the kernel reported while pacing */
        uint64_t tasks_blocking;   /* tasks inside blocking regions now (holding a slot) */
        uint64_t tasks_blocking_waiting; /* tasks waiting for a blocking slot (FIFO) now */
        uint64_t blocking_peak;    /* most tasks inside blocking regions at once */
        uint64_t blocking_cap;     /* the bound on tasks inside blocking regions */
        uint64_t tasks_polled;     /* tasks parked on the netpoller now */
        uint64_t threads_peak;     /* most OS threads of the runtime at once (with the monitor) */
        uint64_t hog_threads;      /* threads running a hog whose processor went to another
                                    * thread (at most procs); the hog rejoins at its next
                                    * scheduling point */
        uint64_t hog_handoffs;     /* processors handed from a hog to another thread */
        uint32_t procs_idle;       /* processors with nothing to run */
        uint32_t threads_spinning; /* threads looking for work */
        uint64_t runq_global;      /* tasks in the global run queue */
        uint64_t runq_local;       /* tasks in the processors' run queues (each: autoprocs_stats_runq) */
} autoprocs_stats;
/** Fill @ret (@size = sizeof(*ret)) with a snapshot; thread-safe, lock-free.
 *  @retval 0  @retval -ESRCH not running  @retval -EINVAL */
AUTOPROCS_API int autoprocs_stats_get(autoprocs_stats *ret, size_t size);
/** The run-queue length of each processor in force (id 0 first), up to @n of them, into
 *  @ret_lengths.  Returns the number of processors (which may exceed @n), or -ESRCH when not
 *  running, -EINVAL for @ret_lengths NULL with @n > 0.  Thread-safe, lock-free. */
AUTOPROCS_API int autoprocs_stats_runq(uint32_t *ret_lengths, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* AUTOPROCS_H */
