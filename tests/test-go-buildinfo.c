/* SPDX-License-Identifier: MIT */
/*
 * The Go build info reader of `autoprocs exec` (daemon/cli-go.c): crafted ELF images in memory
 * (inline 1.18+ format, pointer-based pre-1.18 format in both byte orders and both classes, no
 * section headers, truncations, hostile lengths), a real Go binary built here with the installed
 * Go toolchain (skipped with the reason when there is none), and version comparison.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>

#include "ap-test.h"
#include "daemon/cli/cli-go.h"

#define MAGIC "\xff Go buildinf:"

typedef struct Img {
        uint8_t b[4096];
        size_t len;
        bool is64, big;
} Img;

static void put(Img *m, size_t off, unsigned n, uint64_t v)
{
        for (unsigned i = 0; i < n; i++)
                m->b[off + i] = (uint8_t)(v >> (8 * (m->big ? n - 1 - i : i)));
}

/* An ELF header with one PT_LOAD (file offset 0 at vaddr 0x400000, writable, whole image) and,
 * with @sections, a section table: [0] null, [1] .shstrtab, [2] .go.buildinfo at @bi_off. */
static void elf_init(Img *m, bool is64, bool big, bool sections, size_t bi_off, size_t bi_size)
{
        static const char names[] = "\0.shstrtab\0.go.buildinfo\0";
        unsigned a = is64 ? 8 : 4;
        size_t phoff = is64 ? 0x40 : 0x34, shoff = 0x800, strtab = 0x780;
        size_t shentsize = is64 ? 0x40 : 0x28, phentsize = is64 ? 0x38 : 0x20;

        memset(m, 0, sizeof(*m));
        m->is64 = is64;
        m->big = big;
        m->len = sizeof(m->b);
        memcpy(m->b, "\x7f" "ELF", 4);
        m->b[4] = is64 ? 2 : 1;
        m->b[5] = big ? 2 : 1;
        m->b[6] = 1;
        put(m, is64 ? 0x20 : 0x1c, a, phoff);
        put(m, is64 ? 0x36 : 0x2a, 2, phentsize);
        put(m, is64 ? 0x38 : 0x2c, 2, 1);
        /* PT_LOAD, PF_R|PF_W */
        put(m, phoff, 4, 1);
        if (is64) {
                put(m, phoff + 4, 4, 6);
                put(m, phoff + 8, 8, 0);
                put(m, phoff + 16, 8, 0x400000);
                put(m, phoff + 32, 8, sizeof(m->b));
        } else {
                put(m, phoff + 4, 4, 0);
                put(m, phoff + 8, 4, 0x400000);
                put(m, phoff + 16, 4, sizeof(m->b));
                put(m, phoff + 24, 4, 6);
        }
        if (!sections)
                return;
        memcpy(m->b + strtab, names, sizeof(names));
        put(m, is64 ? 0x28 : 0x20, a, shoff);
        put(m, is64 ? 0x3a : 0x2e, 2, shentsize);
        put(m, is64 ? 0x3c : 0x30, 2, 3);
        put(m, is64 ? 0x3e : 0x32, 2, 1);
        /* [1] .shstrtab */
        put(m, shoff + shentsize + 0, 4, 1);
        put(m, shoff + shentsize + (is64 ? 0x18 : 0x10), a, strtab);
        put(m, shoff + shentsize + (is64 ? 0x20 : 0x14), a, sizeof(names));
        /* [2] .go.buildinfo */
        put(m, shoff + 2 * shentsize + 0, 4, 11);
        put(m, shoff + 2 * shentsize + (is64 ? 0x18 : 0x10), a, bi_off);
        put(m, shoff + 2 * shentsize + (is64 ? 0x20 : 0x14), a, bi_size);
}

/* The 1.18+ header at @off with @version inline. */
static void inline_info(Img *m, size_t off, const char *version)
{
        size_t n = strlen(version);

        memcpy(m->b + off, MAGIC, 14);
        m->b[off + 14] = m->is64 ? 8 : 4;
        m->b[off + 15] = 2 | (m->big ? 1 : 0);
        m->b[off + 32] = (uint8_t)n;
        memcpy(m->b + off + 33, version, n);
        m->b[off + 33 + n] = 0; /* empty modinfo */
}

/* The pre-1.18 header at @off: a pointer to a string header {data, len} at @off + 0x40. */
static void pointer_info(Img *m, size_t off, const char *version)
{
        unsigned a = m->is64 ? 8 : 4;
        size_t hdr = off + 0x40, data = off + 0x80;

        memcpy(m->b + off, MAGIC, 14);
        m->b[off + 14] = (uint8_t)a;
        m->b[off + 15] = m->big ? 1 : 0;
        put(m, off + 16, a, 0x400000 + hdr);
        put(m, hdr, a, 0x400000 + data);
        put(m, hdr + a, a, strlen(version));
        memcpy(m->b + data, version, strlen(version));
}

START_TEST(test_inline_and_pointer_formats)
{
        static const struct { bool is64, big, sections, inl; } cases[] = {
                { true, false, true, true },   { false, false, true, true },  { true, true, true, true },
                { true, false, true, false },  { true, true, true, false },   { false, false, true, false },
                { false, true, true, false },  { true, false, false, true },  { true, false, false, false },
        };
        char v[64];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                Img m;

                elf_init(&m, cases[i].is64, cases[i].big, cases[i].sections, 0x400, 0x100);
                if (cases[i].inl)
                        inline_info(&m, 0x400, "go1.25.0");
                else
                        pointer_info(&m, 0x400, "go1.16.15");
                ck_assert_msg(ap_go_version_parse(m.b, m.len, v, sizeof(v)) == 0, "case %zu", i);
                ck_assert_str_eq(v, cases[i].inl ? "go1.25.0" : "go1.16.15");
        }
}
END_TEST

START_TEST(test_not_go_and_hostile)
{
        char v[64], small[4];
        Img m;

        /* No build info at all. */
        elf_init(&m, true, false, false, 0, 0);
        ck_assert_int_eq(ap_go_version_parse(m.b, m.len, v, sizeof(v)), -ENOEXEC);
        ck_assert_int_eq(ap_go_version_parse((const uint8_t *)"#!/bin/sh\n", 10, v, sizeof(v)), -ENOEXEC);
        /* A section that runs past the end of the file. */
        elf_init(&m, true, false, true, 0x400, 0x100000);
        inline_info(&m, 0x400, "go1.25.0");
        ck_assert_int_eq(ap_go_version_parse(m.b, m.len, v, sizeof(v)), -EINVAL);
        /* An inline length past the end. */
        elf_init(&m, true, false, true, 0x400, 0x100);
        inline_info(&m, 0x400, "go1.25.0");
        m.b[0x420] = 0xff;
        m.b[0x421] = 0x7f;
        ck_assert_int_eq(ap_go_version_parse(m.b, m.len, v, sizeof(v)), -EINVAL);
        /* A varint that never ends. */
        memset(m.b + 0x420, 0xff, 0x3e0);
        ck_assert_int_eq(ap_go_version_parse(m.b, m.len, v, sizeof(v)), -EINVAL);
        /* A pointer outside every segment. */
        elf_init(&m, true, false, true, 0x400, 0x100);
        pointer_info(&m, 0x400, "go1.16");
        put(&m, 0x410, 8, 0x7fff0000);
        ck_assert_int_eq(ap_go_version_parse(m.b, m.len, v, sizeof(v)), -EINVAL);
        /* Control bytes in the version. */
        elf_init(&m, true, false, true, 0x400, 0x100);
        inline_info(&m, 0x400, "go1.2\n");
        ck_assert_int_eq(ap_go_version_parse(m.b, m.len, v, sizeof(v)), -EINVAL);
        /* Too small a buffer. */
        inline_info(&m, 0x400, "go1.25.0");
        ck_assert_int_eq(ap_go_version_parse(m.b, m.len, small, sizeof(small)), -ENAMETOOLONG);
        /* Every truncation of a good image fails cleanly (never reads past the end). */
        for (size_t len = 0; len < 0x429; len += 7) {
                int r = ap_go_version_parse(m.b, len, v, sizeof(v));

                ck_assert_msg(r < 0, "truncated to %zu: %d", len, r);
        }
}
END_TEST

START_TEST(test_version_compare)
{
        ck_assert_int_eq(ap_go_version_at_least("go1.25.0", 1, 25), 1);
        ck_assert_int_eq(ap_go_version_at_least("go1.25", 1, 25), 1);
        ck_assert_int_eq(ap_go_version_at_least("go1.25rc1", 1, 25), 1);
        ck_assert_int_eq(ap_go_version_at_least("go1.26.1", 1, 25), 1);
        ck_assert_int_eq(ap_go_version_at_least("go2", 1, 25), 1);
        ck_assert_int_eq(ap_go_version_at_least("go1.24.9", 1, 25), 0);
        ck_assert_int_eq(ap_go_version_at_least("go1.9", 1, 25), 0);
        ck_assert_int_eq(ap_go_version_at_least("go1.19.8", 1, 25), 0);
        ck_assert_int_eq(ap_go_version_at_least("devel go1.26-abc", 1, 25), -EINVAL);
        ck_assert_int_eq(ap_go_version_at_least("go", 1, 25), -EINVAL);
        ck_assert_int_eq(ap_go_version_at_least(NULL, 1, 25), -EINVAL);
}
END_TEST

START_TEST(test_real_go_binary)
{
        char *dir = ap_test_fixture_copy(NULL);
        char cmd[8192], v[64], want[64] = "";
        FILE *p;

        if (system("command -v go >/dev/null 2>&1") != 0) {
                fprintf(stderr, "SKIP: no Go toolchain (golang-go): the real Go binary case\n");
                ap_test_rmtree(dir);
                return;
        }
        ap_test_write(dir, "main.go", "package main\nfunc main() {}\n");
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && HOME='%s' GOCACHE='%s/cache' GOPATH='%s/gopath' GO111MODULE=off GOFLAGS= "
                 "go build -o hello main.go 2>&1", dir, dir, dir, dir);
        ck_assert_msg(system(cmd) == 0, "go build failed: %s", cmd);
        p = popen("go env GOVERSION", "r");
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(fgets(want, sizeof(want), p));
        pclose(p);
        want[strcspn(want, "\n")] = 0;
        snprintf(cmd, sizeof(cmd), "%s/hello", dir);
        ck_assert_int_eq(ap_go_version_read(cmd, v, sizeof(v)), 0);
        ck_assert_str_eq(v, want);
        fprintf(stderr, "real Go binary built with %s: build info says %s\n", want, v);
        /* Not a Go binary: a C one, and a script. */
        ck_assert_int_eq(ap_go_version_read("/bin/sh", v, sizeof(v)), -ENOEXEC);
        ck_assert_int_eq(ap_go_version_read(dir, v, sizeof(v)), -ENOEXEC);
        ck_assert_int_eq(ap_go_version_read("/nonexistent-go-binary", v, sizeof(v)), -ENOENT);
        ap_test_rmtree(dir);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("go-buildinfo");
        TCase *tc = tcase_create("go-buildinfo");

        tcase_add_test(tc, test_inline_and_pointer_formats);
        tcase_add_test(tc, test_not_go_and_hostile);
        tcase_add_test(tc, test_version_compare);
        tcase_add_test(tc, test_real_go_binary);
        tcase_set_timeout(tc, 180);
        suite_add_tcase(s, tc);
        return ap_test_run(s);
}
