/* SPDX-License-Identifier: MIT */
/* Table tests of lib/util/parse.c on hostile strings. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lib/util/parse.h"
#include "tests/ap-test.h"

START_TEST(test_u64)
{
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } t[] = {
                { "0", 0, 0 },
                { "100000", 0, 100000 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1\n", -EINVAL, 0 },
                { "max", -EINVAL, 0 },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                uint64_t v = 12345;
                int r = ap_parse_u64(t[i].s, &v);

                ck_assert_msg(r == t[i].r, "'%s': %d != %d", t[i].s, r, t[i].r);
                if (r == 0)
                        ck_assert_uint_eq(v, t[i].v);
                else
                        ck_assert_uint_eq(v, 12345);
        }
}
END_TEST

START_TEST(test_i64)
{
        int64_t v;

        ck_assert_int_eq(ap_parse_i64("-1", &v), 0);
        ck_assert_int_eq(v, -1);
        ck_assert_int_eq(ap_parse_i64("-9223372036854775808", &v), 0);
        ck_assert(v == INT64_MIN);
        ck_assert_int_eq(ap_parse_i64("9223372036854775807", &v), 0);
        ck_assert(v == INT64_MAX);
        ck_assert_int_eq(ap_parse_i64("9223372036854775808", &v), -ERANGE);
        ck_assert_int_eq(ap_parse_i64("-9223372036854775809", &v), -ERANGE);
        ck_assert_int_eq(ap_parse_i64("-", &v), -EINVAL);
        ck_assert_int_eq(ap_parse_i64("--1", &v), -EINVAL);
}
END_TEST

START_TEST(test_milli)
{
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } t[] = {
                { "1.5", 0, 1500 }, { "2", 0, 2000 }, { "0.25", 0, 250 }, { ".5", 0, 500 },
                { "3.", 0, 3000 },  { "0.001", 0, 1 }, { "0.0001", -EINVAL, 0 }, { ".", -EINVAL, 0 },
                { "", -EINVAL, 0 }, { "1.2.3", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "1e3", -EINVAL, 0 },
                { "18446744073709551615", -ERANGE, 0 },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                uint64_t v = 0;
                int r = ap_parse_milli(t[i].s, &v);

                ck_assert_msg(r == t[i].r, "'%s': %d != %d", t[i].s, r, t[i].r);
                if (r == 0)
                        ck_assert_uint_eq(v, t[i].v);
        }
}
END_TEST

START_TEST(test_duration)
{
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } t[] = {
                { "1s", 0, 1000000000ull },   { "250ms", 0, 250000000ull }, { "10ms", 0, 10000000ull },
                { "1.5s", 0, 1500000000ull }, { "500us", 0, 500000ull },    { "2m", 0, 120000000000ull },
                { "7ns", 0, 7 },              { "3", 0, 3000000000ull },    { "ms", -EINVAL, 0 },
                { "s", -EINVAL, 0 },          { "1h", -EINVAL, 0 },         { "", -EINVAL, 0 },
                { "1 s", -EINVAL, 0 },        { "-1s", -EINVAL, 0 },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                uint64_t v = 0;
                int r = ap_parse_duration_ns(t[i].s, &v);

                ck_assert_msg(r == t[i].r, "'%s': %d != %d", t[i].s, r, t[i].r);
                if (r == 0)
                        ck_assert_uint_eq(v, t[i].v);
        }
}
END_TEST

/* Lines: the last one may lack its newline, empty lines count, nothing past @len is read. */
START_TEST(test_lines)
{
        static const char buf[] = "a b\n\nPid:\t 42\nlast";
        ApLines it = AP_LINES_INIT(buf, sizeof(buf) - 1);
        const char *want[] = { "a b", "", "Pid:\t 42", "last" }, *line, *v;
        size_t n = 0, l;

        while (ap_lines_next(&it, &line, &l)) {
                ck_assert_uint_lt(n, 4);
                ck_assert_uint_eq(l, strlen(want[n]));
                ck_assert(memcmp(line, want[n], l) == 0);
                n++;
        }
        ck_assert_uint_eq(n, 4);
        it = AP_LINES_INIT(buf, 0);
        ck_assert(!ap_lines_next(&it, &line, &l));

        v = ap_lines_find_value(buf, sizeof(buf) - 1, "Pid:", &l);
        ck_assert(v && l == 2 && memcmp(v, "42", 2) == 0);
        v = ap_lines_find_value(buf, sizeof(buf) - 1, "last", &l);
        ck_assert(v && l == 0);
        ck_assert_ptr_null(ap_lines_find_value(buf, sizeof(buf) - 1, "b", &l));
        /* A key cut off by the length is not found. */
        ck_assert_ptr_null(ap_lines_find_value(buf, 6, "Pid:", &l));
}
END_TEST

int main(void)
{
        Suite *s = suite_create("parse");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_u64);
        tcase_add_test(tc, test_i64);
        tcase_add_test(tc, test_milli);
        tcase_add_test(tc, test_duration);
        tcase_add_test(tc, test_lines);
        suite_add_tcase(s, tc);
        return ap_test_run(s);
}
