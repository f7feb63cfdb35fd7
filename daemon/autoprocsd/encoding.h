/* SPDX-License-Identifier: MIT */
/*
 * HTTP content encoding of the daemon's answers: gzip (RFC 1952, zlib) when the client's
 * Accept-Encoding allows it, as Prometheus asks for by default ("Accept-Encoding: gzip").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Below this many bytes an answer is sent as it is (compressing costs more than it saves). */
#define AP_GZIP_MIN_BYTES 1024u

/* Does the Accept-Encoding header @value (NULL = none) accept gzip?  "gzip", "x-gzip" or "*"
 * with a q-value above 0 (RFC 9110 12.5.3); "gzip;q=0" refuses it. */
bool ap_accepts_gzip(const char *value);

/* Compress @len bytes of @in as one gzip member (level 1: the text is repetitive enough that
 * higher levels gain little for their cost).  @retval 0 (*ret malloc'd)  @retval -ENOMEM  @retval -EIO */
int ap_gzip(const char *in, size_t len, char **ret, size_t *ret_len);
