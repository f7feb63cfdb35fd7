/* SPDX-License-Identifier: MIT */
/*
 * test-api: links the SHARED library, as an application would, and checks (1) that the public
 * configuration and detection entry points behave as documented at the ABI boundary and (2) that
 * the library exports nothing but autoprocs_* (read from its own dynamic symbol table with nm).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "autoprocs.h"

#ifndef AP_SHARED_LIB
#error "AP_SHARED_LIB must name the built shared library"
#endif

START_TEST(test_config_ranges)
{
        autoprocs_config *c = NULL;
        autoprocs_policy p;

        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(autoprocs_config_set_policy(c, (autoprocs_policy)7), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_interval_ms(c, 5), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_interval_ms(c, 10), 0);
        ck_assert_int_eq(autoprocs_config_set_interval_ms(c, 0), 0);
        ck_assert_int_eq(autoprocs_config_set_stack_size(c, 1024), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_max_threads(c, 0), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_root(c, ""), -EINVAL);
        ck_assert_int_eq(autoprocs_config_set_root(c, "/tmp"), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, NULL), 0);
        ck_assert_int_eq(autoprocs_config_set_pid(c, -1), -EINVAL);
        ck_assert_int_eq(autoprocs_config_new(NULL), -EINVAL);
        ck_assert_ptr_null(autoprocs_config_free(c));
        ck_assert_ptr_null(autoprocs_config_free(NULL));

        ck_assert_int_eq(autoprocs_policy_from_string("floor", &p), 0);
        ck_assert_int_eq(p, AUTOPROCS_POLICY_FLOOR);
        ck_assert_int_eq(autoprocs_policy_from_string("Floor", &p), -EINVAL);
        ck_assert_int_eq(autoprocs_policy_from_string(NULL, &p), -EINVAL);
        ck_assert_str_eq(autoprocs_policy_to_string(AUTOPROCS_POLICY_AUTOMAXPROCS), "automaxprocs");
        ck_assert_str_eq(autoprocs_policy_to_string((autoprocs_policy)42), "unknown");
}
END_TEST

START_TEST(test_version)
{
        char want[64];

        snprintf(want, sizeof(want), "%d.%d.%d", AUTOPROCS_VERSION_MAJOR, AUTOPROCS_VERSION_MINOR,
                 AUTOPROCS_VERSION_PATCH);
        ck_assert_str_eq(autoprocs_version(), want);
}
END_TEST

START_TEST(test_exports_only_public_names)
{
        char cmd[4096], line[1024];
        unsigned n = 0, bad = 0;
        FILE *p;

        snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", AP_SHARED_LIB);
        p = popen(cmd, "r");
        ck_assert_msg(p != NULL, "cannot run nm");
        while (fgets(line, sizeof(line), p)) {
                char *name = strrchr(line, ' ');

                if (!name)
                        continue;
                name++;
                name[strcspn(name, "@\n")] = 0;
                if (strcmp(name, "AUTOPROCS_0.1") == 0)
                        continue;
                n++;
                if (strncmp(name, "autoprocs_", 10) != 0) {
                        fprintf(stderr, "exported non-public symbol: %s\n", name);
                        bad++;
                }
        }
        ck_assert_int_eq(pclose(p), 0);
        ck_assert_msg(n >= 10, "only %u symbols exported: nm output not understood?", n);
        ck_assert_msg(bad == 0, "%u non-public symbols exported", bad);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("api");
        TCase *tc = tcase_create("api");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_config_ranges);
        tcase_add_test(tc, test_version);
        tcase_add_test(tc, test_exports_only_public_names);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
