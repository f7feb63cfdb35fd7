/* SPDX-License-Identifier: MIT */
/*
 * Lexical path helpers (no I/O): '/'-separated components, whole-component prefixes, joining
 * relative and absolute paths.  Used by the probes to turn cgroup and mount paths into paths
 * relative to a root directory fd.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Next component of *p (empty components skipped); false at the end. */
bool ap_path_next_comp(const char **p, const char **ret_s, size_t *ret_len);
/* Has a ".." component. */
bool ap_path_has_dotdot(const char *path);
/* Number of components ("/" has 0). */
size_t ap_path_n_comps(const char *path);
/* If @root is a whole-component prefix of @path ("/a" of "/a/b", not of "/ab"), set *ret_rest to
 * the rest of @path (no leading '/', "" when equal) and return true. */
bool ap_path_comp_prefix(const char *root, const char *path, const char **ret_rest);
/* Relative join: "a" + "b" = "a/b"; "" or "." + "b" = "b"; "a" + "" = "a"; both empty = ".".
 * Leading '/' of @b and trailing '/' dropped.  malloc'd, NULL on ENOMEM. */
char *ap_path_join_rel(const char *a, const char *b);
/* Absolute join: "/" + "a/b" = "/a/b"; "/x" + "" = "/x".  malloc'd. */
char *ap_path_join_abs(const char *root, const char *rel);
/* An absolute path as a path relative to "/": "/sys/fs" -> "sys/fs", "/" -> ".".  malloc'd. */
char *ap_path_rel_of_abs(const char *abs);
/* @target seen from @base, both relative to the same directory, as an absolute-looking path:
 * base "a/b", target "a" -> "/.."; target "a/b/c" -> "/c"; target "" -> "/../..".  malloc'd. */
char *ap_path_seen_from(const char *base, const char *target);
