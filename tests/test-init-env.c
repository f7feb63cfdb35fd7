/* SPDX-License-Identifier: MIT */
/*
 * AUTOPROCS_* overrides (lib/env.c): good values land in the config; each bad value gives exactly
 * one "config-invalid" event naming the variable and the value, and the default is kept.
 */
#include <errno.h>

#include "lib/env.h"
#include "lib/runtime/runtime.h"
#include "lib/util/macro.h"
#include "tests/ap-test.h"

typedef struct Env {
        const char *procs, *policy, *min, *reserve, *interval, *pacing, *max_blocking, *stack_guard;
} Env;

static const char *lookup(const char *name, void *userdata)
{
        const Env *e = userdata;

        if (strcmp(name, "AUTOPROCS_PROCS") == 0)
                return e->procs;
        if (strcmp(name, "AUTOPROCS_POLICY") == 0)
                return e->policy;
        if (strcmp(name, "AUTOPROCS_MIN") == 0)
                return e->min;
        if (strcmp(name, "AUTOPROCS_RESERVE") == 0)
                return e->reserve;
        if (strcmp(name, "AUTOPROCS_INTERVAL") == 0)
                return e->interval;
        if (strcmp(name, "AUTOPROCS_PACING") == 0)
                return e->pacing;
        if (strcmp(name, "AUTOPROCS_MAX_BLOCKING") == 0)
                return e->max_blocking;
        if (strcmp(name, "AUTOPROCS_STACK_GUARD") == 0)
                return e->stack_guard;
        return NULL;
}

typedef struct Log {
        unsigned n;
        char event[64];
        char message[512];
        autoprocs_log_level level;
} Log;

static void log_cb(autoprocs_log_level level, const char *event, const char *message, void *ud)
{
        Log *l = ud;

        l->n++;
        l->level = level;
        snprintf(l->event, sizeof(l->event), "%s", event);
        snprintf(l->message, sizeof(l->message), "%s", message);
}

static void config_with_log(autoprocs_config *c, Log *l)
{
        ap_config_init_defaults(c);
        c->log_fn = log_cb;
        c->log_userdata = l;
}

START_TEST(test_good_values)
{
        Env e = { .procs = "3", .policy = "floor", .min = "2", .reserve = "0.5", .interval = "250ms" };
        autoprocs_config c;
        Log l = {};

        config_with_log(&c, &l);
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_uint_eq(l.n, 0);
        ck_assert_uint_eq(c.procs, 3);
        ck_assert_int_eq(c.policy, AUTOPROCS_POLICY_FLOOR);
        ck_assert_uint_eq(c.min_procs, 2);
        ck_assert_uint_eq(c.reserve_millicpus, 500);
        ck_assert_uint_eq(c.interval_ms, 250);

        e = (Env){ .interval = "1s" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_uint_eq(c.interval_ms, 1000);
        e = (Env){ .interval = "10ms", .reserve = "2" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_uint_eq(c.interval_ms, 10);
        ck_assert_uint_eq(c.reserve_millicpus, 2000);
        e = (Env){ .interval = "0" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_uint_eq(c.interval_ms, 0);
        ck_assert_int_eq(c.pacing, AUTOPROCS_PACING_AUTO);
        e = (Env){ .pacing = "off" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_int_eq(c.pacing, AUTOPROCS_PACING_OFF);
        e = (Env){ .pacing = "on" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_int_eq(c.pacing, AUTOPROCS_PACING_ON);
        e = (Env){ .max_blocking = "12" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_uint_eq(c.max_blocking, 12);
        e = (Env){ .max_blocking = "many" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 1);
        ck_assert_uint_eq(c.max_blocking, 12);
        ck_assert_ptr_nonnull(strstr(l.message, "AUTOPROCS_MAX_BLOCKING"));
}
END_TEST

/* The runtime reads no environment: AUTOPROCS_STACK_GUARD lands in the config, for ApRtOptions. */
START_TEST(test_stack_guard)
{
        Env e = { .stack_guard = "never" };
        autoprocs_config c;
        Log l = {};

        config_with_log(&c, &l);
        ck_assert_int_eq(c.stack_guard, AP_STACK_GUARD_AUTO);
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_int_eq(c.stack_guard, AP_STACK_GUARD_NEVER);
        e = (Env){ .stack_guard = "always" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_int_eq(c.stack_guard, AP_STACK_GUARD_ALWAYS);
        e = (Env){ .stack_guard = "sometimes" };
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 1);
        ck_assert_int_eq(c.stack_guard, AP_STACK_GUARD_ALWAYS);
        ck_assert_str_eq(l.message, "AUTOPROCS_STACK_GUARD=\"sometimes\": not one of auto, always, never; keeping always");
}
END_TEST

START_TEST(test_empty_is_unset)
{
        Env e = { .procs = "", .policy = "", .min = "", .reserve = "", .interval = "" };
        autoprocs_config c;
        Log l = {};

        config_with_log(&c, &l);
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 0);
        ck_assert_uint_eq(l.n, 0);
        ck_assert_uint_eq(c.procs, 0);
        ck_assert_uint_eq(c.interval_ms, AP_CONFIG_DEFAULT_INTERVAL_MS);
}
END_TEST

/* Each bad value alone: one event, naming variable and value; the config is the default. */
START_TEST(test_bad_values)
{
        static const struct {
                Env env;
                const char *name, *value;
        } t[] = {
                { { .procs = "0" }, "AUTOPROCS_PROCS", "0" },
                { { .procs = "-2" }, "AUTOPROCS_PROCS", "-2" },
                { { .procs = "two" }, "AUTOPROCS_PROCS", "two" },
                { { .procs = "1.5" }, "AUTOPROCS_PROCS", "1.5" },
                { { .procs = "99999999999999999999" }, "AUTOPROCS_PROCS", "99999999999999999999" },
                { { .policy = "Floor" }, "AUTOPROCS_POLICY", "Floor" },
                { { .policy = "round" }, "AUTOPROCS_POLICY", "round" },
                { { .min = "-1" }, "AUTOPROCS_MIN", "-1" },
                { { .min = "lots" }, "AUTOPROCS_MIN", "lots" },
                { { .reserve = "0.0001" }, "AUTOPROCS_RESERVE", "0.0001" },
                { { .reserve = "half" }, "AUTOPROCS_RESERVE", "half" },
                { { .reserve = "-0.5" }, "AUTOPROCS_RESERVE", "-0.5" },
                { { .interval = "5ms" }, "AUTOPROCS_INTERVAL", "5ms" },
                { { .interval = "2h" }, "AUTOPROCS_INTERVAL", "2h" },
                { { .interval = "10.5ms" }, "AUTOPROCS_INTERVAL", "10.5ms" },
                { { .interval = "soon" }, "AUTOPROCS_INTERVAL", "soon" },
                { { .interval = "1 s" }, "AUTOPROCS_INTERVAL", "1 s" },
                { { .pacing = "yes" }, "AUTOPROCS_PACING", "yes" },
                { { .pacing = "ON" }, "AUTOPROCS_PACING", "ON" },
        };
        for (size_t i = 0; i < AP_ELEMENTSOF(t); i++) {
                autoprocs_config c, def;
                Log l = {};
                char want[128];

                config_with_log(&c, &l);
                config_with_log(&def, &l);
                ck_assert_int_eq(ap_env_apply(&c, lookup, (void *)&t[i].env), 1);
                ck_assert_msg(l.n == 1, "%s=%s: %u events", t[i].name, t[i].value, l.n);
                ck_assert_str_eq(l.event, "config-invalid");
                ck_assert_int_eq(l.level, AUTOPROCS_LOG_ERR);
                snprintf(want, sizeof(want), "%s=\"%s\"", t[i].name, t[i].value);
                ck_assert_msg(strstr(l.message, want) != NULL, "message '%s' lacks '%s'", l.message,
                              want);
                ck_assert_msg(c.procs == def.procs && c.policy == def.policy &&
                                      c.min_procs == def.min_procs &&
                                      c.reserve_millicpus == def.reserve_millicpus &&
                                      c.interval_ms == def.interval_ms && c.pacing == def.pacing,
                              "%s=%s changed the config", t[i].name, t[i].value);
        }
}
END_TEST

START_TEST(test_bad_and_good_mixed)
{
        /* Two bad, three good: two events, the good ones applied. */
        Env e = { .procs = "x", .policy = "ceil", .min = "4", .reserve = "1.2345", .interval = "2s" };
        autoprocs_config c;
        Log l = {};

        config_with_log(&c, &l);
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 2);
        ck_assert_uint_eq(l.n, 2);
        ck_assert_uint_eq(c.procs, 0);
        ck_assert_int_eq(c.policy, AUTOPROCS_POLICY_CEIL);
        ck_assert_uint_eq(c.min_procs, 4);
        ck_assert_uint_eq(c.reserve_millicpus, 0);
        ck_assert_uint_eq(c.interval_ms, 2000);
}
END_TEST

START_TEST(test_no_log_callback_is_silent)
{
        Env e = { .procs = "bad" };
        autoprocs_config c;

        ap_config_init_defaults(&c);
        ck_assert_int_eq(ap_env_apply(&c, lookup, &e), 1);
        ck_assert_uint_eq(c.procs, 0);
}
END_TEST

START_TEST(test_real_environment)
{
        /* NULL lookup = getenv (the test runs forked: setenv stays in this child). */
        autoprocs_config c;
        Log l = {};

        ck_assert_int_eq(setenv("AUTOPROCS_PROCS", "5", 1), 0);
        ck_assert_int_eq(setenv("AUTOPROCS_INTERVAL", "1ms", 1), 0);
        config_with_log(&c, &l);
        ck_assert_int_eq(ap_env_apply(&c, NULL, NULL), 1);
        ck_assert_uint_eq(c.procs, 5);
        ck_assert_uint_eq(c.interval_ms, AP_CONFIG_DEFAULT_INTERVAL_MS);
        ck_assert_ptr_nonnull(strstr(l.message, "AUTOPROCS_INTERVAL=\"1ms\""));
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("init-env");
        TCase *tc = tcase_create("env");

        tcase_add_test(tc, test_good_values);
        tcase_add_test(tc, test_stack_guard);
        tcase_add_test(tc, test_empty_is_unset);
        tcase_add_test(tc, test_bad_values);
        tcase_add_test(tc, test_bad_and_good_mixed);
        tcase_add_test(tc, test_no_log_callback_is_silent);
        tcase_add_test(tc, test_real_environment);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
