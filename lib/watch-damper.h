/* SPDX-License-Identifier: MIT */
/*
 * The watcher's damper (watch-damper.c): the pure decision whether a new recommendation resizes
 * the runtime now.  No I/O, no clock, no threads.
 *
 * The damping rule (why: a quota that flaps must not make the runtime resize on every tick, yet
 * a single change -- a Kubernetes in-place resize -- must take effect within one tick):
 *   1. A recommendation equal to the size in force changes nothing.
 *   2. A change in the same direction as the last resize, or any change once the last resize is
 *      AP_WATCH_SETTLE_TICKS ticks old, takes effect at once.
 *   3. A reversal (the opposite direction) within AP_WATCH_SETTLE_TICKS ticks of the last resize
 *      takes effect only when it has been seen on AP_WATCH_REVERSAL_TICKS consecutive ticks;
 *      each held sighting re-opens the settle window.
 * So a limit that flips every tick or every other tick causes one resize, then none while it
 * keeps flipping; a limit that changes once costs at most one tick (+ the 1 ms confirmation read
 * of ap_watch_tick()), in either direction.  Why not "decrease after 2 ticks, increase at once":
 * that doubles the reaction to every decrease (a Kubernetes downsize) to dampen flaps that are
 * rare, while this rule only slows down what actually flaps.
 * An unknown recommendation (0: every read failed) never resizes: keep what works.
 */
#pragma once

#define AP_WATCH_SETTLE_TICKS 4u
#define AP_WATCH_REVERSAL_TICKS 3u

typedef struct ApWatchDamper {
        unsigned current;        /* the size in force (requested last) */
        int last_dir;            /* +1 grew, -1 shrank, 0 no resize yet */
        unsigned ticks_since;    /* ticks since the last resize (saturating) */
        unsigned pending_ticks;  /* consecutive ticks a held reversal has been seen */
} ApWatchDamper;

void ap_watch_damper_init(ApWatchDamper *d, unsigned current);
/* Feed one tick's recommendation (0 = unknown).  @retval the new size to apply, 0 = keep. */
unsigned ap_watch_damper_step(ApWatchDamper *d, unsigned recommended);
/* The size was set from outside (autoprocs_procs_set): take it as current, forget the history. */
void ap_watch_damper_reset(ApWatchDamper *d, unsigned current);
