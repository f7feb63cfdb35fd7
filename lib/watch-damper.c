/* SPDX-License-Identifier: MIT */
/*
 * The watcher's decision: when a new recommendation becomes a resize (the rule is in watch-damper.h).
 * Pure arithmetic on ticks; the watcher thread feeds it one recommendation per tick.
 */
#include "lib/watch-damper.h"

void ap_watch_damper_init(ApWatchDamper *d, unsigned current)
{
        *d = (ApWatchDamper){ .current = current, .ticks_since = AP_WATCH_SETTLE_TICKS };
}

void ap_watch_damper_reset(ApWatchDamper *d, unsigned current)
{
        ap_watch_damper_init(d, current);
}

unsigned ap_watch_damper_step(ApWatchDamper *d, unsigned recommended)
{
        int dir;

        if (d->ticks_since < AP_WATCH_SETTLE_TICKS)
                d->ticks_since++;
        if (recommended == 0 || recommended == d->current) {
                d->pending_ticks = 0;
                return 0;
        }
        dir = recommended > d->current ? 1 : -1;
        if (d->last_dir != 0 && dir != d->last_dir && d->ticks_since < AP_WATCH_SETTLE_TICKS) {
                /* A reversal soon after a resize: hold it until it has lasted.  While the limit
                 * keeps flapping the window stays open, so a flap never gets through by waiting. */
                if (++d->pending_ticks < AP_WATCH_REVERSAL_TICKS) {
                        d->ticks_since = 0;
                        return 0;
                }
        }
        d->current = recommended;
        d->last_dir = dir;
        d->ticks_since = 0;
        d->pending_ticks = 0;
        return recommended;
}
