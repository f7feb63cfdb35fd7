/* SPDX-License-Identifier: MIT */
/*
 * Fractional pacing, the runtime side (pace.h; the arithmetic is pace-ctl.c, the design in
 * DESIGN.md "Pacing").  Every worker M charges the CPU its thread used (CLOCK_THREAD_CPUTIME_ID,
 * exact, one system call) to the shared bucket at its scheduling points, at most every
 * check_ns of wall time; when the bucket is empty it is held back, keeping its P (marked
 * `paused`, so that the monitor sees no hog), on a futex until the bucket has refilled.  A
 * limit change, pacing turned off and shutdown wake every held thread (gen).
 *
 * CPU outside the workers' accounting -- other threads of the process, the monitor, threads in
 * blocking regions between their charges -- is sampled from CLOCK_PROCESS_CPUTIME_ID every
 * SAMPLE_NS and given to the controller as "others"; the cgroup's own counters (usage, throttled
 * periods), read by the caller's watcher, come in through ap_rt_pace_feedback().
 *
 * A task that reaches no scheduling point is held back by a CPU-clock timer per worker thread
 * (timer_create(CLOCK_THREAD_CPUTIME_ID), SIGEV_THREAD_ID, SIGURG as Go uses it): its handler
 * runs the same check and sleeps in the handler, pausing the thread as the kernel would, but for
 * milliseconds instead of the rest of the period.  Never while a runtime lock is held (deferred
 * to the unlock, pace.h).  SIGURG is taken only when its disposition is the default or ignore:
 * an application that handles SIGURG itself keeps it, and pacing stays cooperative.
 */
#include <signal.h>
#include <string.h>
#include <time.h>

#include "lib/runtime/pace.h"
#include "lib/runtime/runtime.h"

#define SAMPLE_NS 20000000u             /* others: one process CPU clock read per 20 ms */
#define TIMER_MIN_NS 1000000u           /* the hold-back timer's CPU interval, at least 1 ms */
#define PACE_SIGNAL SIGURG

ApPace ap_pace;
__thread unsigned ap_tls_locks __attribute__((tls_model("initial-exec")));
static __thread bool tls_in_pace __attribute__((tls_model("initial-exec")));

/* A CPU clock in ns, 0 when it cannot be read (the charge is then skipped, not wrong). */
static uint64_t clock_ns(clockid_t id)
{
        uint64_t ns = 0;

        (void)ap_clock_read_ns(id, &ns);
        return ns;
}

/* Under ap_pace.lock: the process's CPU outside the charged worker time, every SAMPLE_NS. */
static void sample_others_locked(uint64_t now)
{
        uint64_t proc, d_proc, d_charged;

        if (now - ap_pace.sample_ns < SAMPLE_NS)
                return;
        proc = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        if (ap_pace.sample_ns != 0 && proc >= ap_pace.sample_proc_ns) {
                d_proc = proc - ap_pace.sample_proc_ns;
                d_charged = ap_pace.charged_ns - ap_pace.sample_charged_ns;
                ap_pace_ctl_others(&ap_pace.ctl, (int64_t)d_proc - (int64_t)d_charged,
                                   now - ap_pace.sample_ns);
        }
        ap_pace.sample_ns = now;
        ap_pace.sample_proc_ns = proc;
        ap_pace.sample_charged_ns = ap_pace.charged_ns;
}

static void lock_pace(void)
{
        tls_in_pace = true;
        ap_spin_lock(&ap_pace.lock);
}

static void unlock_pace(void)
{
        ap_spin_unlock(&ap_pace.lock);
        tls_in_pace = false;
}

/* Charge @m's CPU since its last charge; @hold: return the pause the bucket asks for. */
static uint64_t charge(ApM *m, uint64_t now, bool hold)
{
        uint64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID), used, pause;

        used = cpu > m->pace_cpu ? cpu - m->pace_cpu : 0;
        m->pace_cpu = cpu;
        m->pace_mono = now;
        lock_pace();
        ap_pace.charged_ns += used;
        pause = ap_pace_ctl_charge(&ap_pace.ctl, now, used);
        sample_others_locked(now);
        unlock_pace();
        return hold ? pause : 0;
}

/* Hold this thread back for @ns (and longer if the bucket is still empty then).  Keeps its P,
 * flagged paused.  Async-signal-safe.  True when a due timer ended it with the bucket still in
 * debt: the thread must charge again at its very next scheduling point. */
static bool hold(ApM *m, uint64_t ns, bool from_signal)
{
        bool early = false;
        /* a hog's P the monitor handed away (hog.c) is another thread's now: not ours to flag */
        ApP *p = atomic_load_explicit(&m->revoke, AP_RELAXED) == AP_REVOKE_NONE ? m->p : NULL;
        uint64_t t0 = ap_now_ns(), now = t0;

        if (p)
                atomic_store_explicit(&p->paused, 1, AP_RELAXED);
        while (ns > 0 && atomic_load_explicit(&ap_pace.on, AP_RELAXED) &&
               !atomic_load_explicit(&ap_sched.shutdown, AP_RELAXED)) {
                uint32_t gen = atomic_load_explicit(&ap_pace.gen, AP_ACQUIRE);
                uint64_t wait = ns, tn = atomic_load_explicit(&ap_timer_next_ns, AP_RELAXED);
                struct timespec ts;

                /* A sleeper keeps priority: at a scheduling point, a timer falling due ends the
                 * hold and its task runs on credit (charged at the next point).  Not from the
                 * signal: the interrupted task may be anywhere. */
                if (!from_signal && p && tn != UINT64_MAX)
                        wait = tn > now ? AP_MIN(wait, tn - now) : 0;
                if (wait > 0) {
                        ts = ap_ns_to_ts(wait);
                        ap_futex_wait(&ap_pace.gen, gen, &ts);
                }
                now = ap_now_ns();
                if (gen != atomic_load_explicit(&ap_pace.gen, AP_ACQUIRE))
                        break; /* the limit changed: decide afresh at the next point */
                if (!from_signal && p && atomic_load_explicit(&ap_timer_next_ns, AP_RELAXED) <= now) {
                        early = true;
                        break;
                }
                lock_pace();
                ns = ap_pace_ctl_wait(&ap_pace.ctl, now);
                unlock_pace();
        }
        if (p)
                atomic_store_explicit(&p->paused, 0, AP_RELAXED);
        m->pace_mono = now;
        atomic_fetch_add_explicit(&ap_pace.held_ns, now - t0, AP_RELAXED);
        atomic_fetch_add_explicit(from_signal ? &ap_pace.signal_holds : &ap_pace.holds, 1,
                                  AP_RELAXED);
        return early;
}

static void arm_timer(ApM *m)
{
        uint64_t every = atomic_load_explicit(&ap_pace.check_ns, AP_RELAXED) * 2;
        struct itimerspec its;

        if (!ap_pace.sig_ready)
                return;
        if (!m->pace_has_timer) {
                struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = PACE_SIGNAL };

                sev._sigev_un._tid = (pid_t)syscall(SYS_gettid); /* sigev_notify_thread_id */
                if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &m->pace_timer) < 0)
                        return;
                m->pace_has_timer = true;
        }
        if (every < TIMER_MIN_NS)
                every = TIMER_MIN_NS;
        its.it_interval = its.it_value = ap_ns_to_ts(every);
        if (timer_settime(m->pace_timer, 0, &its, NULL) == 0)
                m->pace_timer_on = true;
}

static void disarm_timer(ApM *m)
{
        static const struct itimerspec zero;

        if (m->pace_has_timer && m->pace_timer_on) {
                (void)timer_settime(m->pace_timer, 0, &zero, NULL);
                m->pace_timer_on = false;
        }
}

void ap_pace_point_slow(ApM *m)
{
        uint64_t now, pause;

        if (!m || tls_in_pace)
                return;
        now = ap_now_ns();
        if (AP_UNLIKELY(!m->pace_timer_on))
                arm_timer(m);
        if (now - m->pace_mono < atomic_load_explicit(&ap_pace.check_ns, AP_RELAXED))
                return;
        pause = charge(m, now, true);
        if (pause == 0)
                return;
        /* A hold a due timer cut short leaves the bucket in debt: the sleeper runs on credit,
         * and the next scheduling point (the sleeper's own, or the CPU-bound task's next one)
         * charges at once instead of a check interval later.  Otherwise every wake-up of a
         * sleeper let a worker run a whole check interval (1 ms at a 1 s period) unpaced. */
        if (hold(m, pause, false))
                m->pace_mono = 0;
        /* a sleeper keeps priority: what fell due while held runs next */
        if (m->p && !tls_in_pace && atomic_load_explicit(&m->revoke, AP_RELAXED) == AP_REVOKE_NONE)
                ap_timers_poll(m->p, true);
}

void ap_pace_deferred(void)
{
        ApM *m;
        uint64_t pause;

        if (tls_in_pace)
                return;
        ap_tls_locks &= ~AP_TLS_PACE_DEFERRED;
        m = ap_cur_m();
        if (!m || !atomic_load_explicit(&ap_pace.on, AP_RELAXED))
                return;
        pause = charge(m, ap_now_ns(), true);
        if (pause > 0)
                hold(m, pause, true);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
        int saved = errno;
        ApM *m;
        uint64_t now, pause;

        (void)sig;
        (void)si;
        (void)uc;
        m = ap_cur_m();
        if (!m)
                goto out;
        if (!atomic_load_explicit(&ap_pace.on, AP_RELAXED)) {
                disarm_timer(m);
                goto out;
        }
        atomic_signal_fence(memory_order_seq_cst);
        if ((ap_tls_locks & ~AP_TLS_PACE_DEFERRED) != 0 || tls_in_pace) {
                /* a read-modify-write the signal interrupted may drop the bit (aarch64): then
                 * the next tick of the timer catches the thread instead */
                ap_tls_locks |= AP_TLS_PACE_DEFERRED;
                goto out;
        }
        now = ap_now_ns();
        /* a thread that charged at a scheduling point lately is paced there, where a due
         * timer can end its hold: the signal is for tasks that reach none */
        if (now - m->pace_mono < 2 * atomic_load_explicit(&ap_pace.check_ns, AP_RELAXED))
                goto out;
        pause = charge(m, now, true);
        if (pause > 0)
                hold(m, pause, true);
out:
        errno = saved;
}

/* Take SIGURG unless the application handles it. */
static void install_signal(void)
{
        struct sigaction old, sa;

        if (ap_pace.sig_ready)
                return;
        if (sigaction(PACE_SIGNAL, NULL, &old) < 0)
                return;
        if ((old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != on_signal
                                        : (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
                ap_log(AUTOPROCS_LOG_WARNING, "pacing",
                       "SIGURG has a handler of the application's: pacing holds tasks back only at "
                       "their scheduling points");
                return;
        }
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        sigfillset(&sa.sa_mask);
        if (sigaction(PACE_SIGNAL, &sa, NULL) == 0)
                ap_pace.sig_ready = true;
}

void ap_pace_m_start(ApM *m)
{
        m->pace_cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        m->pace_mono = ap_now_ns();
        if (atomic_load(&ap_pace.on))
                arm_timer(m);
}

void ap_pace_m_stop(ApM *m)
{
        if (m->pace_has_timer) {
                (void)timer_delete(m->pace_timer);
                m->pace_has_timer = m->pace_timer_on = false;
        }
}

void ap_pace_m_flush(ApM *m)
{
        if (atomic_load_explicit(&ap_pace.on, AP_RELAXED))
                (void)charge(m, ap_now_ns(), false);
}

void ap_pace_init(void)
{
        memset(&ap_pace, 0, sizeof(ap_pace));
        ap_pace_ctl_init(&ap_pace.ctl);
}

static void wake_held(void)
{
        atomic_fetch_add_explicit(&ap_pace.gen, 1, AP_RELEASE);
        ap_futex_wake(&ap_pace.gen, INT32_MAX);
}

void ap_pace_fini(void)
{
        atomic_store(&ap_pace.on, 0);
        wake_held();
}

int ap_rt_pace_set(uint64_t quota_ns, uint64_t period_ns)
{
        uint64_t now = ap_now_ns();
        bool on = quota_ns > 0 && period_ns > 0;

        if (!atomic_load(&ap_sched.running))
                return -ESRCH;
        if (on && (period_ns < 1000000u || period_ns > 1000000000u))
                return -EINVAL;
        if (on)
                install_signal();
        lock_pace();
        if (on == ap_pace_ctl_on(&ap_pace.ctl) && quota_ns == ap_pace.ctl.quota_ns &&
            period_ns == ap_pace.ctl.period_ns) {
                unlock_pace();
                return 0;
        }
        ap_pace_ctl_set_limit(&ap_pace.ctl, quota_ns, period_ns, now);
        atomic_store(&ap_pace.check_ns, ap_pace.ctl.check_ns);
        ap_pace.fb_valid = false;
        unlock_pace();
        atomic_store(&ap_pace.on, on);
        wake_held();
        return 0;
}

void ap_rt_pace_feedback(uint64_t nr_periods, uint64_t nr_throttled, uint64_t usage_ns)
{
        uint64_t now = ap_now_ns(), proc;

        if (!atomic_load(&ap_sched.running) || !atomic_load(&ap_pace.on))
                return;
        proc = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        lock_pace();
        if (ap_pace.fb_valid && nr_periods >= ap_pace.fb_periods &&
            nr_throttled >= ap_pace.fb_throttled) {
                uint64_t dthr = nr_throttled - ap_pace.fb_throttled;

                ap_pace_ctl_feedback(&ap_pace.ctl, nr_periods - ap_pace.fb_periods, dthr);
                atomic_fetch_add_explicit(&ap_pace.throttled_seen, dthr, AP_RELAXED);
                if (usage_ns > 0 && ap_pace.fb_usage_ns > 0 && usage_ns >= ap_pace.fb_usage_ns) {
                        uint64_t d_group = usage_ns - ap_pace.fb_usage_ns;
                        uint64_t d_proc = proc - ap_pace.fb_proc_ns;

                        ap_pace_ctl_group(&ap_pace.ctl, d_group > d_proc ? d_group - d_proc : 0,
                                          now - ap_pace.fb_ns);
                }
        }
        ap_pace.fb_periods = nr_periods;
        ap_pace.fb_throttled = nr_throttled;
        ap_pace.fb_usage_ns = usage_ns;
        ap_pace.fb_proc_ns = proc;
        ap_pace.fb_ns = now;
        ap_pace.fb_valid = true;
        unlock_pace();
}

void ap_pace_stats(autoprocs_stats *s)
{
        lock_pace();
        s->pacing = ap_pace_ctl_on(&ap_pace.ctl);
        s->pace_limit_millicpus = ap_pace.ctl.limit_ppm / 1000u;
        s->pace_share_millicpus = ap_pace.ctl.rate_ppm / 1000u;
        s->pace_others_millicpus = (ap_pace.ctl.others_ppm + ap_pace.ctl.group_ppm) / 1000u;
        s->pace_factor_ppm = ap_pace.ctl.factor_ppm;
        unlock_pace();
        s->pace_held_ns = atomic_load_explicit(&ap_pace.held_ns, AP_RELAXED);
        s->pace_holds = atomic_load_explicit(&ap_pace.holds, AP_RELAXED) +
                        atomic_load_explicit(&ap_pace.signal_holds, AP_RELAXED);
        s->pace_signal_holds = atomic_load_explicit(&ap_pace.signal_holds, AP_RELAXED);
        s->pace_throttled_periods = atomic_load_explicit(&ap_pace.throttled_seen, AP_RELAXED);
}
