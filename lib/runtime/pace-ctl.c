/* SPDX-License-Identifier: MIT */
/*
 * The pacing controller (pace-ctl.h): token bucket arithmetic, in integers (ns and millionths of
 * a CPU; every product fits in 128 bits).  Pure: the caller owns the clock and the lock.
 */
#include <string.h>

#include "lib/runtime/pace-ctl.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t d)
{
        return d ? (uint64_t)((unsigned __int128)a * b / d) : 0;
}

static void update_rate(ApPaceCtl *c)
{
        uint64_t r, floor_ppm;

        if (!ap_pace_ctl_on(c)) {
                c->rate_ppm = 0;
                return;
        }
        r = mul_div(c->limit_ppm, AP_PACE_PPM - c->headroom_ppm, AP_PACE_PPM);
        r = mul_div(r, c->factor_ppm, AP_PACE_PPM);
        floor_ppm = mul_div(c->limit_ppm, AP_PACE_RATE_MIN_PPM_OF_LIMIT, AP_PACE_PPM);
        r = r > c->others_ppm + c->group_ppm ? r - c->others_ppm - c->group_ppm : 0;
        c->rate_ppm = MAX(r, MAX(floor_ppm, 1u));
}

void ap_pace_ctl_init(ApPaceCtl *c)
{
        memset(c, 0, sizeof(*c));
        c->factor_ppm = AP_PACE_PPM;
}

void ap_pace_ctl_set_limit(ApPaceCtl *c, uint64_t quota_ns, uint64_t period_ns, uint64_t now)
{
        bool was_on = ap_pace_ctl_on(c);
        uint64_t budget, depth, need;

        if (quota_ns == 0 || period_ns == 0) {
                c->quota_ns = c->period_ns = c->limit_ppm = 0;
                update_rate(c);
                return;
        }
        c->quota_ns = quota_ns;
        c->period_ns = period_ns;
        c->limit_ppm = MAX(mul_div(quota_ns, AP_PACE_PPM, period_ns), 1u);
        /* depth = h/2 of the quota of one period, within bounds; a depth held up by its minimum
         * raises the headroom so that the guarantee still holds (pace-ctl.h) */
        budget = quota_ns;
        depth = mul_div(budget, AP_PACE_HEADROOM_PPM / 2, AP_PACE_PPM);
        depth = MIN(MAX(depth, (uint64_t)AP_PACE_DEPTH_MIN_NS), (uint64_t)AP_PACE_DEPTH_MAX_NS);
        need = mul_div(2 * depth, AP_PACE_PPM, budget);
        c->headroom_ppm = MIN(MAX(need, (uint64_t)AP_PACE_HEADROOM_PPM), (uint64_t)AP_PACE_PPM / 2);
        c->depth_ns = depth;
        c->check_ns = MIN(MAX(depth / 4, (uint64_t)AP_PACE_CHECK_MIN_NS),
                          (uint64_t)AP_PACE_CHECK_MAX_NS);
        if (!was_on) {
                c->tokens_ns = (int64_t)depth;
                c->last_ns = now;
        } else if (c->tokens_ns > (int64_t)depth) {
                c->tokens_ns = (int64_t)depth;
        }
        update_rate(c);
}

static void refill(ApPaceCtl *c, uint64_t now)
{
        uint64_t add;

        if (now <= c->last_ns)
                return;
        add = mul_div(now - c->last_ns, c->rate_ppm, AP_PACE_PPM);
        c->last_ns = now;
        if (c->tokens_ns + (int64_t)MIN(add, (uint64_t)INT64_MAX / 2) > (int64_t)c->depth_ns)
                c->tokens_ns = (int64_t)c->depth_ns;
        else
                c->tokens_ns += (int64_t)add;
}

/* Below zero: pause until the bucket is half full again. */
static uint64_t pause_for(const ApPaceCtl *c)
{
        uint64_t deficit;

        if (c->tokens_ns >= 0)
                return 0;
        deficit = (uint64_t)(-c->tokens_ns) + c->depth_ns / 2;
        return mul_div(deficit, AP_PACE_PPM, c->rate_ppm) + 1;
}

uint64_t ap_pace_ctl_charge(ApPaceCtl *c, uint64_t now, uint64_t used_ns)
{
        if (!ap_pace_ctl_on(c))
                return 0;
        refill(c, now);
        /* one charge never takes the bucket below minus one period's quota */
        used_ns = MIN(used_ns, c->quota_ns);
        c->tokens_ns -= (int64_t)used_ns;
        if (c->tokens_ns < -(int64_t)c->quota_ns)
                c->tokens_ns = -(int64_t)c->quota_ns;
        return pause_for(c);
}

uint64_t ap_pace_ctl_wait(ApPaceCtl *c, uint64_t now)
{
        if (!ap_pace_ctl_on(c))
                return 0;
        refill(c, now);
        return pause_for(c);
}

void ap_pace_ctl_others(ApPaceCtl *c, int64_t others_ns, uint64_t interval_ns)
{
        int64_t sample;

        if (interval_ns == 0)
                return;
        sample = (int64_t)mul_div(others_ns < 0 ? (uint64_t)-others_ns : (uint64_t)others_ns,
                                  AP_PACE_PPM, interval_ns);
        if (others_ns < 0)
                sample = -sample;
        /* EWMA, weight 1/4: a thread that starts burning shows within a few samples; signed, so
         * that a charge that lagged one sample evens out in the next */
        c->others_ewma_ppm = (3 * c->others_ewma_ppm + sample) / 4;
        c->others_ppm = c->others_ewma_ppm > 0 ? (uint64_t)c->others_ewma_ppm : 0;
        update_rate(c);
}

void ap_pace_ctl_group(ApPaceCtl *c, uint64_t group_ns, uint64_t interval_ns)
{
        if (interval_ns == 0)
                return;
        c->group_ppm = mul_div(group_ns, AP_PACE_PPM, interval_ns);
        update_rate(c);
}

void ap_pace_ctl_feedback(ApPaceCtl *c, uint64_t periods, uint64_t throttled)
{
        if (!ap_pace_ctl_on(c) || periods == 0)
                return;
        if (throttled > 0) {
                uint64_t cut = MIN(throttled * AP_PACE_BACKOFF_PPM, (uint64_t)AP_PACE_BACKOFF_MAX_PPM);
                uint64_t f = mul_div(c->factor_ppm, AP_PACE_PPM - cut, AP_PACE_PPM);

                c->factor_ppm = (uint32_t)MAX(f, (uint64_t)AP_PACE_FACTOR_MIN_PPM);
                c->calm_ticks = 0;
        } else if (++c->calm_ticks >= AP_PACE_CALM_TICKS) {
                c->factor_ppm = (uint32_t)MIN((uint64_t)c->factor_ppm + AP_PACE_CLIMB_PPM,
                                              (uint64_t)AP_PACE_PPM);
        }
        update_rate(c);
}
