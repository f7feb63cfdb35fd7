/* SPDX-License-Identifier: MIT */
/* The watcher's damping rule (lib/watch-damper.c), tick by tick, without threads or files. */
#include "lib/util/macro.h"
#include "lib/watch-damper.h"
#include "tests/ap-test.h"

/* Feed @n recommendations; expect the resize (0 = none) after each. */
static void feed(ApWatchDamper *d, const unsigned *rec, const unsigned *want, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned got = ap_watch_damper_step(d, rec[i]);

                ck_assert_msg(got == want[i], "tick %zu: recommendation %u gave resize %u, want %u",
                              i, rec[i], got, want[i]);
        }
}

START_TEST(test_single_changes_are_immediate)
{
        /* Isolated changes, each after the settle window: every one takes effect on its tick. */
        ApWatchDamper d;
        static const unsigned rec[] = { 4, 4, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 1 };
        static const unsigned want[] = { 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 1 };

        ap_watch_damper_init(&d, 4);
        feed(&d, rec, want, AP_ELEMENTSOF(rec));
        ck_assert_uint_eq(d.current, 1);
}
END_TEST

START_TEST(test_same_direction_is_immediate)
{
        /* Growing in steps (a limit raised twice in a row) is never held. */
        ApWatchDamper d;
        static const unsigned rec[] = { 2, 3, 4, 4, 1, 1 };
        static const unsigned want[] = { 2, 3, 4, 0, 0, 0 };

        ap_watch_damper_init(&d, 1);
        feed(&d, rec, want, AP_ELEMENTSOF(rec));
        /* ... but shrinking right after is a reversal: held until seen on 3 ticks. */
        ck_assert_uint_eq(ap_watch_damper_step(&d, 1), 1);
}
END_TEST

START_TEST(test_flap_every_tick)
{
        /* 1,2,1,2...: one resize, then none however long it flaps. */
        ApWatchDamper d;
        unsigned resizes = 0;

        ap_watch_damper_init(&d, 2);
        for (unsigned i = 0; i < 100; i++)
                resizes += ap_watch_damper_step(&d, i % 2 ? 2 : 1) != 0;
        ck_assert_uint_eq(resizes, 1);
        ck_assert_uint_eq(d.current, 1);
}
END_TEST

START_TEST(test_flap_every_other_tick)
{
        ApWatchDamper d;
        unsigned resizes = 0;

        ap_watch_damper_init(&d, 2);
        for (unsigned i = 0; i < 100; i++)
                resizes += ap_watch_damper_step(&d, (i / 2) % 2 ? 2 : 1) != 0;
        ck_assert_uint_eq(resizes, 1);
}
END_TEST

START_TEST(test_reversal_that_lasts_goes_through)
{
        ApWatchDamper d;
        static const unsigned rec[] = { 1, 2, 2, 2, 2 };
        static const unsigned want[] = { 1, 0, 0, 2, 0 };

        ap_watch_damper_init(&d, 2);
        feed(&d, rec, want, AP_ELEMENTSOF(rec));
}
END_TEST

START_TEST(test_unknown_keeps_size)
{
        ApWatchDamper d;
        static const unsigned rec[] = { 0, 0, 0, 3, 0, 0 };
        static const unsigned want[] = { 0, 0, 0, 3, 0, 0 };

        ap_watch_damper_init(&d, 2);
        feed(&d, rec, want, AP_ELEMENTSOF(rec));
        ck_assert_uint_eq(d.current, 3);
}
END_TEST

START_TEST(test_reset_forgets_direction)
{
        ApWatchDamper d;

        ap_watch_damper_init(&d, 4);
        ck_assert_uint_eq(ap_watch_damper_step(&d, 2), 2);
        /* A manual size of 2 -> 6: the next change down is not a "reversal" of anything. */
        ap_watch_damper_reset(&d, 6);
        ck_assert_uint_eq(ap_watch_damper_step(&d, 3), 3);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("watch-damper");
        TCase *tc = tcase_create("damper");

        tcase_add_test(tc, test_single_changes_are_immediate);
        tcase_add_test(tc, test_same_direction_is_immediate);
        tcase_add_test(tc, test_flap_every_tick);
        tcase_add_test(tc, test_flap_every_other_tick);
        tcase_add_test(tc, test_reversal_that_lasts_goes_through);
        tcase_add_test(tc, test_unknown_keeps_size);
        tcase_add_test(tc, test_reset_forgets_direction);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
