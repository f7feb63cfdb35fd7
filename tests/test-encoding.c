/* SPDX-License-Identifier: MIT */
/*
 * daemon/autoprocsd/encoding.c: Accept-Encoding on strings, gzip round trip through zlib.
 */
#include <string.h>
#include <zlib.h>

#include "ap-test.h"
#include "daemon/autoprocsd/encoding.h"

START_TEST(test_accepts_gzip)
{
        ck_assert(ap_accepts_gzip("gzip"));
        ck_assert(ap_accepts_gzip("gzip, deflate, br"));
        ck_assert(ap_accepts_gzip("deflate, GZIP;q=0.5"));
        ck_assert(ap_accepts_gzip("x-gzip"));
        ck_assert(ap_accepts_gzip("*"));
        ck_assert(ap_accepts_gzip(" identity , gzip ; q=1.0"));
        ck_assert(!ap_accepts_gzip(NULL));
        ck_assert(!ap_accepts_gzip(""));
        ck_assert(!ap_accepts_gzip("identity"));
        ck_assert(!ap_accepts_gzip("gzip;q=0"));
        ck_assert(!ap_accepts_gzip("gzip; q=0.000, *"));   /* an explicit refusal beats "*" */
        ck_assert(!ap_accepts_gzip("*;q=0"));
        ck_assert(!ap_accepts_gzip("gzipx, br"));
}
END_TEST

START_TEST(test_gzip_round_trip)
{
        char in[20000], out[20000], *gz = NULL;
        size_t gz_len = 0;
        z_stream z = { 0 };

        for (size_t i = 0; i < sizeof(in); i++)
                in[i] = "autoprocs_cpu_usage_seconds_total{target=\"kubepods\"} 1.5\n"[i % 57];
        ck_assert_int_eq(ap_gzip(in, sizeof(in), &gz, &gz_len), 0);
        ck_assert(gz_len > 18 && gz_len < sizeof(in) / 10);
        ck_assert_int_eq((unsigned char)gz[0], 0x1f); /* gzip magic */
        ck_assert_int_eq((unsigned char)gz[1], 0x8b);
        ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)gz;
        z.avail_in = (uInt)gz_len;
        z.next_out = (Bytef *)out;
        z.avail_out = sizeof(out);
        ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
        ck_assert_uint_eq(z.total_out, sizeof(in));
        ck_assert(memcmp(in, out, sizeof(in)) == 0);
        inflateEnd(&z);
        free(gz);
        /* empty input is a valid (empty) member */
        ck_assert_int_eq(ap_gzip("", 0, &gz, &gz_len), 0);
        ck_assert(gz_len >= 18);
        free(gz);
}
END_TEST

static Suite *encoding_suite(void)
{
        Suite *s = suite_create("encoding");
        TCase *tc = tcase_create("gzip");

        tcase_add_test(tc, test_accepts_gzip);
        tcase_add_test(tc, test_gzip_round_trip);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(encoding_suite());
}
