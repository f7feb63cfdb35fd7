/* SPDX-License-Identifier: MIT */
/*
 * The connection table of autoprocsd's HTTP server (see http-conns.h).  Connections are kept
 * in one list, oldest first, and per client address a count; a table of a few thousand
 * connections is scanned in microseconds, so admission and the deadline sweep are plain scans.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/autoprocsd/http-conns.h"

typedef struct Peer {
        struct Peer *next;
        unsigned char key[16];     /* IPv4 as IPv4-mapped IPv6 */
        unsigned n;
} Peer;

struct ApConn {
        ApConn *prev, *next;
        Peer *peer;
        int fd;
        ApConnPhase phase;
        uint64_t since;            /* the phase's start */
        uint64_t deadline;
        bool shut;
};

struct ApConnTable {
        ApConnLimits l;
        ApConn *head, *tail;
        Peer *peers;
        ApConnCounts c;
};

int ap_conns_new(const ApConnLimits *limits, ApConnTable **ret)
{
        ApConnTable *t;

        if (limits->max_conns == 0 || limits->max_per_peer == 0 ||
            limits->max_per_peer >= limits->max_conns)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->l = *limits;
        *ret = t;
        return 0;
}

ApConnTable *ap_conns_free(ApConnTable *t)
{
        if (!t)
                return NULL;
        while (t->head) {
                ApConn *c = t->head;

                t->head = c->next;
                free(c);
        }
        while (t->peers) {
                Peer *p = t->peers;

                t->peers = p->next;
                free(p);
        }
        free(t);
        return NULL;
}

static void addr_key(const struct sockaddr *addr, socklen_t len, unsigned char key[16])
{
        memset(key, 0, 16);
        if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                key[10] = key[11] = 0xff;
                memcpy(key + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        } else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                memcpy(key, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
        }
}

static Peer *peer_get(ApConnTable *t, const unsigned char key[16])
{
        Peer *p;

        for (p = t->peers; p; p = p->next)
                if (memcmp(p->key, key, 16) == 0)
                        return p;
        p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        memcpy(p->key, key, 16);
        p->next = t->peers;
        t->peers = p;
        t->c.peers++;
        return p;
}

static void peer_put(ApConnTable *t, Peer *p)
{
        Peer **pp;

        if (--p->n > 0)
                return;
        for (pp = &t->peers; *pp; pp = &(*pp)->next)
                if (*pp == p) {
                        *pp = p->next;
                        free(p);
                        t->c.peers--;
                        return;
                }
}

static void shut(ApConn *c)
{
        if (c->shut)
                return;
        c->shut = true;
        /* The owner (the sniffing task or the server) sees the end at its next read and closes;
         * a half-sent answer is cut off. */
        (void)shutdown(c->fd, SHUT_RDWR);
}

/* Connections shut down but not closed yet still hold an fd: count only the live ones. */
static unsigned live(const ApConnTable *t, const Peer *p)
{
        unsigned n = 0;

        for (const ApConn *c = t->head; c; c = c->next)
                if (!c->shut && (!p || c->peer == p))
                        n++;
        return n;
}

/* The oldest connection of @p (NULL: any address) not being answered and not shut yet. */
static ApConn *oldest_waiting(ApConnTable *t, const Peer *p)
{
        for (ApConn *c = t->head; c; c = c->next)
                if (!c->shut && c->phase != AP_CONN_ANSWER && (!p || c->peer == p))
                        return c;
        return NULL;
}

/* The address holding the most live connections. */
static Peer *heaviest(ApConnTable *t)
{
        Peer *best = NULL;
        unsigned most = 0;

        for (Peer *p = t->peers; p; p = p->next) {
                unsigned n = live(t, p);

                if (n > most) {
                        most = n;
                        best = p;
                }
        }
        return best;
}

ApConn *ap_conns_admit(ApConnTable *t, int fd, const struct sockaddr *addr, socklen_t addrlen,
                       uint64_t now)
{
        unsigned char key[16];
        ApConn *c, *victim = NULL;
        Peer *p;

        addr_key(addr, addrlen, key);
        p = peer_get(t, key);
        if (!p)
                return NULL;
        if (p->n > 0 && live(t, p) >= t->l.max_per_peer) {
                /* its share is used: it makes room itself, or waits */
                victim = oldest_waiting(t, p);
                if (!victim)
                        goto refuse;
        } else if (live(t, NULL) >= t->l.max_conns) {
                Peer *h = heaviest(t);

                victim = oldest_waiting(t, h);
                if (!victim)
                        victim = oldest_waiting(t, NULL);
                if (!victim)
                        goto refuse;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                goto refuse;
        if (victim) {
                shut(victim);
                t->c.evicted++;
        }
        c->fd = fd;
        c->peer = p;
        p->n++;
        c->prev = t->tail;
        if (t->tail)
                t->tail->next = c;
        else
                t->head = c;
        t->tail = c;
        t->c.open++;
        t->c.accepted++;
        ap_conns_set_phase(t, c, AP_CONN_SNIFF, now);
        return c;
refuse:
        t->c.refused++;
        if (p->n == 0) {
                p->n = 1;
                peer_put(t, p);
        }
        return NULL;
}

void ap_conns_set_phase(ApConnTable *t, ApConn *c, ApConnPhase phase, uint64_t now)
{
        switch (phase) {
        case AP_CONN_SNIFF:
                c->deadline = now + t->l.header_ns;
                break;
        case AP_CONN_HEADERS:
                break; /* the header deadline runs on from the accept (or the idle start) */
        case AP_CONN_ANSWER:
                c->deadline = now + t->l.answer_ns;
                break;
        case AP_CONN_IDLE:
                c->deadline = now + t->l.idle_ns;
                break;
        }
        c->phase = phase;
        c->since = now;
        /* the list stays ordered by the start of the current wait: move @c to the tail */
        if (t->tail != c) {
                if (c->prev)
                        c->prev->next = c->next;
                else
                        t->head = c->next;
                c->next->prev = c->prev;
                c->prev = t->tail;
                c->next = NULL;
                t->tail->next = c;
                t->tail = c;
        }
}

void ap_conns_remove(ApConnTable *t, ApConn *c)
{
        if (c->prev)
                c->prev->next = c->next;
        else
                t->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                t->tail = c->prev;
        peer_put(t, c->peer);
        t->c.open--;
        free(c);
}

uint64_t ap_conns_sweep(ApConnTable *t, uint64_t now)
{
        uint64_t next = UINT64_MAX;

        for (ApConn *c = t->head; c; c = c->next) {
                if (c->shut)
                        continue;
                if (c->deadline <= now) {
                        shut(c);
                        t->c.expired++;
                } else if (c->deadline < next) {
                        next = c->deadline;
                }
        }
        return next;
}

void ap_conns_shutdown_all(ApConnTable *t)
{
        for (ApConn *c = t->head; c; c = c->next)
                shut(c);
}

int ap_conn_fd(const ApConn *c)
{
        return c->fd;
}

bool ap_conn_is_shut(const ApConn *c)
{
        return c->shut;
}

void ap_conns_counts(const ApConnTable *t, ApConnCounts *ret)
{
        *ret = t->c;
}

/* RFC 9110 tchar */
static bool is_tchar(unsigned char ch)
{
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
               (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

ApSniff ap_http_sniff(const char *buf, size_t n, size_t max)
{
        size_t i = 0;

        /* the method: one or more token characters, then a space */
        while (i < n && is_tchar((unsigned char)buf[i]))
                i++;
        if (i == n)
                return n >= max ? AP_SNIFF_TOO_LONG : AP_SNIFF_MORE;
        if (i == 0 || buf[i] != ' ')
                return AP_SNIFF_BAD;
        /* the rest of the line: no NUL, no control byte but the final CR */
        for (i++; i < n; i++) {
                unsigned char ch = (unsigned char)buf[i];

                if (ch == '\n')
                        return AP_SNIFF_OK;
                if (ch == '\r' && (i + 1 == n || buf[i + 1] == '\n'))
                        continue;
                if (ch < 0x20 || ch == 0x7f)
                        return AP_SNIFF_BAD;
        }
        return n >= max ? AP_SNIFF_TOO_LONG : AP_SNIFF_MORE;
}
