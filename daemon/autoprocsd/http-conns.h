/* SPDX-License-Identifier: MIT */
/*
 * The connection table of autoprocsd's HTTP server: what keeps slow and idle clients from
 * locking the others out.  Every accepted connection has a phase and a deadline that no trickle
 * of bytes can extend:
 *   SNIFF    accepted, request line not complete yet      deadline: accept + header_ns
 *   HEADERS  request line checked, handed to the server   (same deadline: the whole header)
 *   ANSWER   request complete, answer being sent          deadline: request + answer_ns
 *   IDLE     keep-alive between requests                  deadline: answer sent + idle_ns
 * A connection past its deadline is shut down.  Admission keeps room for every address: when
 * the table is full, or an address holds its share (max_per_peer, below max_conns), the oldest
 * connection that is not being answered is shut down to make room, taken from the address that
 * holds the most (or from the newcomer's own address when it holds its share); only when that
 * address has nothing to give is the newcomer refused.  Not thread-safe: the caller locks.
 * Also here: the pure check of a request line's first bytes (garbage is answered at once).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef enum ApConnPhase {
        AP_CONN_SNIFF = 0,
        AP_CONN_HEADERS,
        AP_CONN_ANSWER,
        AP_CONN_IDLE,
} ApConnPhase;

typedef struct ApConnLimits {
        unsigned max_conns;        /* connections at once (all addresses) */
        unsigned max_per_peer;     /* per client address, < max_conns */
        uint64_t header_ns;        /* accept to complete request headers */
        uint64_t answer_ns;        /* request to the last byte of its answer */
        uint64_t idle_ns;          /* keep-alive: answer to the next request's headers */
} ApConnLimits;

typedef struct ApConnCounts {
        uint64_t open;             /* connections now */
        uint64_t peers;            /* client addresses now */
        uint64_t accepted, evicted, refused, expired;   /* totals */
} ApConnCounts;

typedef struct ApConn ApConn;
typedef struct ApConnTable ApConnTable;

/* @retval 0  @retval -ENOMEM  @retval -EINVAL (max_per_peer >= max_conns or 0) */
int ap_conns_new(const ApConnLimits *limits, ApConnTable **ret);
/* Frees the records; shuts nothing down.  Accepts NULL. */
ApConnTable *ap_conns_free(ApConnTable *t);

/* Admit connection @fd from @addr at @now (phase SNIFF).  May shut down older connections to
 * make room.  NULL: refused (the caller closes @fd), or no memory. */
ApConn *ap_conns_admit(ApConnTable *t, int fd, const struct sockaddr *addr, socklen_t addrlen,
                       uint64_t now);
/* Move @c to @phase at @now (its deadline follows, see above). */
void ap_conns_set_phase(ApConnTable *t, ApConn *c, ApConnPhase phase, uint64_t now);
/* The connection was closed: forget it. */
void ap_conns_remove(ApConnTable *t, ApConn *c);
/* Shut down every connection past its deadline; returns the earliest deadline left
 * (UINT64_MAX: none). */
uint64_t ap_conns_sweep(ApConnTable *t, uint64_t now);
/* Shut down every connection (stopping). */
void ap_conns_shutdown_all(ApConnTable *t);
int ap_conn_fd(const ApConn *c);
/* True once the table shut @c down (it closes on its own: its reads see the end). */
bool ap_conn_is_shut(const ApConn *c);
void ap_conns_counts(const ApConnTable *t, ApConnCounts *ret);

typedef enum ApSniff {
        AP_SNIFF_MORE = 0,         /* fine so far, the line is not complete */
        AP_SNIFF_OK,               /* a plausible request line: METHOD SP target SP HTTP/x CRLF */
        AP_SNIFF_BAD,              /* binary garbage, a NUL or control byte, a bad method */
        AP_SNIFF_TOO_LONG,         /* no line end within @max bytes */
} ApSniff;

/* Check the first @n bytes a client sent (the request line and maybe more). */
ApSniff ap_http_sniff(const char *buf, size_t n, size_t max);
