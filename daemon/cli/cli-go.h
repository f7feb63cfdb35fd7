/* SPDX-License-Identifier: MIT */
/*
 * The Go version of a Go executable, from its build info: the ".go.buildinfo" ELF section (or,
 * without section headers, the start of a writable PT_LOAD segment), which begins with the
 * 14-byte magic "\xff Go buildinf:", a pointer size and a flags byte.  Go 1.18 and later (flag
 * bit 1) store the version inline after the 32-byte header as a uvarint length and the bytes;
 * older releases store at offset 16 a pointer to a Go string header {data, len} (byte order:
 * flags bit 0), resolved through the PT_LOAD segments.  Go's own reader: debug/buildinfo.
 * Pure parsing over a buffer, plus a reader that maps the file read-only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The version ("go1.19.8") of the ELF image @elf[0, @len) into @ret.
 * @retval 0  @retval -ENOEXEC not ELF, or no Go build info  @retval -EINVAL malformed build info
 * @retval -ENAMETOOLONG the version does not fit in @size */
int ap_go_version_parse(const uint8_t *elf, size_t len, char *ret, size_t size);
/* The same for the file at @path.  @retval as above, or -errno (open, mmap) */
int ap_go_version_read(const char *path, char *ret, size_t size);
/* Whether @version ("go1.25.3", "go1.25rc1", "go1.26") is Go @major.@minor or later.
 * @retval 1 yes  @retval 0 no  @retval -EINVAL not a release version (e.g. "devel ...") */
int ap_go_version_at_least(const char *version, unsigned major, unsigned minor);
