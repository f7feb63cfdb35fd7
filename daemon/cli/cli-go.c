/* SPDX-License-Identifier: MIT */
/*
 * Go build info in an ELF executable (cli-go.h).  Every offset and size read from the file is
 * checked against its length before use: the input is any file a user names.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/cli/cli-go.h"

#define BUILDINFO_MAGIC "\xff Go buildinf:"
#define BUILDINFO_MAGIC_LEN 14
#define BUILDINFO_HEADER 32
#define FLAG_BIG_ENDIAN 0x1
#define FLAG_VERSION_INLINE 0x2
/* How far into a writable segment the header is looked for without section headers. */
#define SCAN_LIMIT (1u << 20)

typedef struct Elf {
        const uint8_t *p;
        size_t len;
        bool is64, big;
} Elf;

/* An unsigned integer of @n bytes (1..8) at @off in the ELF's byte order; false if out of bounds. */
static bool get_uint(const uint8_t *p, size_t len, size_t off, unsigned n, bool big, uint64_t *ret)
{
        uint64_t v = 0;

        if (off > len || n > len - off)
                return false;
        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t)p[off + i] << (8 * (big ? n - 1 - i : i));
        *ret = v;
        return true;
}

static bool elf_uint(const Elf *e, uint64_t off, unsigned n, uint64_t *ret)
{
        return off <= SIZE_MAX && get_uint(e->p, e->len, (size_t)off, n, e->big, ret);
}

/* An address-sized field: 4 bytes in ELF32, 8 in ELF64. */
static bool elf_addr(const Elf *e, uint64_t off, uint64_t *ret)
{
        return elf_uint(e, off, e->is64 ? 8 : 4, ret);
}

/* The file range [*ret_off, +*ret_size) of section @name; false if absent. */
static bool find_section(const Elf *e, const char *name, uint64_t *ret_off, uint64_t *ret_size)
{
        uint64_t shoff, shentsize, shnum, shstrndx, stroff, strsize;

        if (!elf_addr(e, e->is64 ? 0x28 : 0x20, &shoff) || !elf_uint(e, e->is64 ? 0x3a : 0x2e, 2, &shentsize) ||
            !elf_uint(e, e->is64 ? 0x3c : 0x30, 2, &shnum) || !elf_uint(e, e->is64 ? 0x3e : 0x32, 2, &shstrndx))
                return false;
        if (shoff == 0 || shnum == 0 || shstrndx >= shnum || shentsize < (e->is64 ? 0x40u : 0x28u))
                return false;
        /* The section of names: sh_offset, sh_size. */
        if (!elf_addr(e, shoff + shstrndx * shentsize + (e->is64 ? 0x18 : 0x10), &stroff) ||
            !elf_addr(e, shoff + shstrndx * shentsize + (e->is64 ? 0x20 : 0x14), &strsize) ||
            stroff > e->len || strsize > e->len - stroff)
                return false;
        for (uint64_t i = 0; i < shnum; i++) {
                uint64_t base = shoff + i * shentsize, nameoff;
                size_t nl = strlen(name);

                if (!elf_uint(e, base, 4, &nameoff) || nameoff >= strsize || strsize - nameoff < nl + 1)
                        continue;
                if (memcmp(e->p + stroff + nameoff, name, nl + 1) != 0)
                        continue;
                return elf_addr(e, base + (e->is64 ? 0x18 : 0x10), ret_off) &&
                       elf_addr(e, base + (e->is64 ? 0x20 : 0x14), ret_size);
        }
        return false;
}

/* Program header @i: type, flags, offset, vaddr, filesz. */
static bool segment(const Elf *e, uint64_t i, uint64_t *type, uint64_t *flags, uint64_t *off, uint64_t *vaddr,
                    uint64_t *filesz)
{
        uint64_t phoff, phentsize, base;

        if (!elf_addr(e, e->is64 ? 0x20 : 0x1c, &phoff) || !elf_uint(e, e->is64 ? 0x36 : 0x2a, 2, &phentsize))
                return false;
        base = phoff + i * phentsize;
        if (e->is64)
                return elf_uint(e, base, 4, type) && elf_uint(e, base + 4, 4, flags) &&
                       elf_uint(e, base + 8, 8, off) && elf_uint(e, base + 16, 8, vaddr) &&
                       elf_uint(e, base + 32, 8, filesz);
        return elf_uint(e, base, 4, type) && elf_uint(e, base + 4, 4, off) && elf_uint(e, base + 8, 4, vaddr) &&
               elf_uint(e, base + 16, 4, filesz) && elf_uint(e, base + 24, 4, flags);
}

static uint64_t segment_count(const Elf *e)
{
        uint64_t n;

        return elf_uint(e, e->is64 ? 0x38 : 0x2c, 2, &n) ? n : 0;
}

/* The file offset of virtual address @va, through the PT_LOAD segments. */
static bool va_to_offset(const Elf *e, uint64_t va, uint64_t *ret)
{
        uint64_t n = segment_count(e);

        for (uint64_t i = 0; i < n; i++) {
                uint64_t type, flags, off, vaddr, filesz;

                if (!segment(e, i, &type, &flags, &off, &vaddr, &filesz) || type != 1 /* PT_LOAD */)
                        continue;
                if (va >= vaddr && va - vaddr < filesz) {
                        *ret = off + (va - vaddr);
                        return *ret < e->len;
                }
        }
        return false;
}

/* Without section headers: the magic at a 16-byte boundary near the start of a writable segment. */
static bool scan_segments(const Elf *e, uint64_t *ret_off)
{
        uint64_t n = segment_count(e);

        for (uint64_t i = 0; i < n; i++) {
                uint64_t type, flags, off, vaddr, filesz;

                if (!segment(e, i, &type, &flags, &off, &vaddr, &filesz) || type != 1 || !(flags & 2 /* PF_W */))
                        continue;
                if (off >= e->len)
                        continue;
                filesz = filesz < e->len - off ? filesz : e->len - off;
                filesz = filesz < SCAN_LIMIT ? filesz : SCAN_LIMIT;
                for (uint64_t o = (off + 15) & ~(uint64_t)15; o + BUILDINFO_HEADER <= off + filesz; o += 16)
                        if (memcmp(e->p + o, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN) == 0) {
                                *ret_off = o;
                                return true;
                        }
        }
        return false;
}

static int copy_version(const uint8_t *s, uint64_t len, char *ret, size_t size)
{
        if (len == 0 || len > 256)
                return -EINVAL;
        for (uint64_t i = 0; i < len; i++)
                if (s[i] < 0x20 || s[i] > 0x7e)
                        return -EINVAL;
        if (len >= size)
                return -ENAMETOOLONG;
        memcpy(ret, s, (size_t)len);
        ret[len] = 0;
        return 0;
}

int ap_go_version_parse(const uint8_t *elf, size_t len, char *ret, size_t size)
{
        Elf e = { .p = elf, .len = len };
        uint64_t off = 0, secsize = 0;
        unsigned ptrsize, flags;

        if (!elf || !ret || size == 0)
                return -EINVAL;
        if (len < 0x34 || memcmp(elf, "\x7f" "ELF", 4) != 0 || (elf[4] != 1 && elf[4] != 2) ||
            (elf[5] != 1 && elf[5] != 2))
                return -ENOEXEC;
        e.is64 = elf[4] == 2;
        e.big = elf[5] == 2;
        if (e.is64 && len < 0x40)
                return -ENOEXEC;
        if (find_section(&e, ".go.buildinfo", &off, &secsize)) {
                if (off > len || secsize < BUILDINFO_HEADER || secsize > len - off)
                        return -EINVAL;
        } else if (!scan_segments(&e, &off))
                return -ENOEXEC;
        if (memcmp(elf + off, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN) != 0)
                return -ENOEXEC;
        ptrsize = elf[off + 14];
        flags = elf[off + 15];
        if (flags & FLAG_VERSION_INLINE) {
                /* uvarint length, then the bytes */
                uint64_t vlen = 0, p = off + BUILDINFO_HEADER;

                for (unsigned shift = 0;; shift += 7) {
                        if (p >= len || shift > 63)
                                return -EINVAL;
                        vlen |= (uint64_t)(elf[p] & 0x7f) << shift;
                        if (!(elf[p++] & 0x80))
                                break;
                }
                if (vlen > len - p)
                        return -EINVAL;
                return copy_version(elf + p, vlen, ret, size);
        }
        /* Before Go 1.18: a pointer to a Go string header, in the byte order of the flags byte. */
        {
                bool big = flags & FLAG_BIG_ENDIAN;
                uint64_t sva, soff, dva, dlen, doff;

                if (ptrsize != 4 && ptrsize != 8)
                        return -EINVAL;
                if (!get_uint(elf, len, (size_t)off + 16, ptrsize, big, &sva) || !va_to_offset(&e, sva, &soff) ||
                    !get_uint(elf, len, (size_t)soff, ptrsize, big, &dva) ||
                    !get_uint(elf, len, (size_t)soff + ptrsize, ptrsize, big, &dlen) ||
                    !va_to_offset(&e, dva, &doff) || dlen > len - doff)
                        return -EINVAL;
                return copy_version(elf + doff, dlen, ret, size);
        }
}

int ap_go_version_read(const char *path, char *ret, size_t size)
{
        struct stat st;
        void *m;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_size < 0x40) {
                close(fd);
                return -ENOEXEC;
        }
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        r = m == MAP_FAILED ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;
        r = ap_go_version_parse(m, (size_t)st.st_size, ret, size);
        (void)munmap(m, (size_t)st.st_size);
        return r;
}

/* A decimal number at *s (advanced); false if none or too large. */
static bool number(const char **s, unsigned *ret)
{
        unsigned v = 0;

        if (**s < '0' || **s > '9')
                return false;
        for (; **s >= '0' && **s <= '9'; (*s)++) {
                if (v > 100000)
                        return false;
                v = v * 10 + (unsigned)(**s - '0');
        }
        *ret = v;
        return true;
}

int ap_go_version_at_least(const char *version, unsigned major, unsigned minor)
{
        const char *s = version;
        unsigned ma, mi = 0;

        if (!s || strncmp(s, "go", 2) != 0)
                return -EINVAL;
        s += 2;
        if (!number(&s, &ma))
                return -EINVAL;
        if (*s == '.') {
                s++;
                if (!number(&s, &mi))
                        return -EINVAL;
        }
        return ma > major || (ma == major && mi >= minor);
}
