/* SPDX-License-Identifier: MIT */
/*
 * The public I/O calls on the netpoller (autoprocs.h, "I/O on the netpoller"): each one tries
 * the system call first and parks the task on the poller only on EAGAIN (netpoll.c), so a call
 * that can complete costs one system call and no lock.  An fd epoll refuses (a regular file)
 * is served inside a blocking region; a caller that cannot park (a plain thread, a task inside
 * a blocking region) waits in poll(2).
 */
#include <poll.h>
#include <sys/socket.h>

#include "lib/runtime/hog.h"
#include "lib/runtime/netpoll.h"

typedef struct IoOp {
        int fd;
        void *buf;
        size_t len;
        int flags;
        struct sockaddr *addr;
        socklen_t *addrlen;
        ssize_t (*call)(struct IoOp *op);
} IoOp;

static ssize_t call_read(IoOp *op)
{
        return read(op->fd, op->buf, op->len);
}

static ssize_t call_write(IoOp *op)
{
        return write(op->fd, op->buf, op->len);
}

static ssize_t call_recv(IoOp *op)
{
        return recv(op->fd, op->buf, op->len, op->flags);
}

static ssize_t call_send(IoOp *op)
{
        return send(op->fd, op->buf, op->len, op->flags | MSG_NOSIGNAL);
}

static ssize_t call_accept(IoOp *op)
{
        return accept4(op->fd, op->addr, op->addrlen, op->flags | SOCK_NONBLOCK);
}

AUTOPROCS_API uint64_t autoprocs_now_ns(void)
{
        return ap_now_ns();
}

/* The calling thread waits in poll(2). */
static int wait_thread(int fd, unsigned events, uint64_t deadline)
{
        struct pollfd p = { .fd = fd };

        if (events & AUTOPROCS_FD_READ)
                p.events |= POLLIN;
        if (events & AUTOPROCS_FD_WRITE)
                p.events |= POLLOUT;
        for (;;) {
                int timeout = -1, r;

                if (deadline != 0) {
                        uint64_t now = ap_now_ns(), ms;

                        if (now >= deadline)
                                return -ETIMEDOUT;
                        ms = (deadline - now + 999999u) / 1000000u;
                        timeout = ms > INT32_MAX ? INT32_MAX : (int)ms;
                }
                r = poll(&p, 1, timeout);
                if (r > 0)
                        return p.revents & POLLNVAL ? -EBADF : 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

static bool can_park(void)
{
        ApM *m = ap_cur_m();

        return m && ap_task_parkable(m->curg);
}

static int fd_wait(int fd, unsigned events, uint64_t deadline_ns)
{
        ApPollDesc *pd;
        int r;

        if (fd < 0)
                return -EBADF;
        if (events == 0 || (events & ~(AUTOPROCS_FD_READ | AUTOPROCS_FD_WRITE)))
                return -EINVAL;
        if (!can_park())
                return wait_thread(fd, events, deadline_ns);
        if (events == (AUTOPROCS_FD_READ | AUTOPROCS_FD_WRITE))
                return -EINVAL;
        r = ap_netpoll_prepare(fd, &pd);
        if (r < 0)
                return r;
        if (ap_netpoll_kind(pd) != AP_PD_POLLED)
                return 0; /* a regular file is always ready, as poll(2) says */
        return ap_netpoll_wait(pd, events == AUTOPROCS_FD_READ ? AP_POLL_READ : AP_POLL_WRITE,
                               deadline_ns);
}

AUTOPROCS_API int autoprocs_fd_wait(int fd, unsigned events, uint64_t deadline_ns)
{
        ApM *m;
        bool rt = ap_rt_enter(&m); /* a scheduling point (hog.h) */
        int r = fd_wait(fd, events, deadline_ns);

        ap_rt_exit(rt);
        return r;
}

/* One operation: the call, then wait and retry on EAGAIN. */
static ssize_t io(IoOp *op, unsigned dir, uint64_t deadline)
{
        unsigned events = dir == AP_POLL_READ ? AUTOPROCS_FD_READ : AUTOPROCS_FD_WRITE;
        ApPollDesc *pd = NULL;
        ssize_t x;
        int r;

        if (op->fd < 0)
                return -EBADF;
        if (!can_park()) {
                for (;;) {
                        if (deadline != 0 && (r = wait_thread(op->fd, events, deadline)) < 0)
                                return r;
                        x = op->call(op);
                        if (x >= 0)
                                return x;
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                return -errno;
                        if (deadline == 0 && (r = wait_thread(op->fd, events, 0)) < 0)
                                return r;
                }
        }
        r = ap_netpoll_prepare(op->fd, &pd);
        if (r < 0)
                return r;
        if (ap_netpoll_kind(pd) == AP_PD_BLOCKING) {
                autoprocs_block_begin();
                do
                        x = op->call(op);
                while (x < 0 && errno == EINTR);
                r = x < 0 ? -errno : 0;
                autoprocs_block_end();
                return x < 0 ? r : x;
        }
        for (;;) {
                x = op->call(op);
                if (x >= 0)
                        return x;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return -errno;
                r = ap_netpoll_wait(pd, dir, deadline);
                if (r < 0)
                        return r;
        }
}

/* Write all of op->buf (stream semantics). */
static ssize_t io_all(IoOp *op, uint64_t deadline)
{
        char *base = op->buf;
        size_t len = op->len, done = 0;

        do {
                ssize_t x;

                op->buf = base + done;
                op->len = len - done;
                x = io(op, AP_POLL_WRITE, deadline);
                if (x < 0)
                        return done > 0 ? (ssize_t)done : x;
                done += (size_t)x;
        } while (done < len);
        return (ssize_t)done;
}

/* The public calls are scheduling points (hog.h): reads and accepts one operation, writes all. */
static ssize_t io_entered(IoOp *op, unsigned dir, uint64_t deadline)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);
        ssize_t x = dir == AP_POLL_READ ? io(op, dir, deadline) : io_all(op, deadline);

        ap_rt_exit(rt);
        return x;
}

AUTOPROCS_API ssize_t autoprocs_read(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
        IoOp op = { .fd = fd, .buf = buf, .len = len, .call = call_read };

        return io_entered(&op, AP_POLL_READ, deadline_ns);
}

AUTOPROCS_API ssize_t autoprocs_write(int fd, const void *buf, size_t len, uint64_t deadline_ns)
{
        IoOp op = { .fd = fd, .buf = (void *)buf, .len = len, .call = call_write };

        return io_entered(&op, AP_POLL_WRITE, deadline_ns);
}

AUTOPROCS_API ssize_t autoprocs_recv(int fd, void *buf, size_t len, int flags, uint64_t deadline_ns)
{
        IoOp op = { .fd = fd, .buf = buf, .len = len, .flags = flags, .call = call_recv };

        return io_entered(&op, AP_POLL_READ, deadline_ns);
}

AUTOPROCS_API ssize_t autoprocs_send(int fd, const void *buf, size_t len, int flags,
                                     uint64_t deadline_ns)
{
        IoOp op = { .fd = fd, .buf = (void *)buf, .len = len, .flags = flags, .call = call_send };

        return io_entered(&op, AP_POLL_WRITE, deadline_ns);
}

AUTOPROCS_API int autoprocs_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags,
                                   uint64_t deadline_ns)
{
        IoOp op = { .fd = fd, .addr = addr, .addrlen = addrlen, .flags = flags,
                    .call = call_accept };

        return (int)io_entered(&op, AP_POLL_READ, deadline_ns);
}

static int fd_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
                      uint64_t deadline_ns)
{
        ApPollDesc *pd;
        socklen_t elen = sizeof(int);
        int r, err = 0;

        if (fd < 0)
                return -EBADF;
        if (can_park()) {
                r = ap_netpoll_prepare(fd, &pd);
                if (r < 0)
                        return r;
        }
        if (connect(fd, addr, addrlen) == 0)
                return 0;
        if (errno != EINPROGRESS && errno != EINTR && errno != EAGAIN)
                return -errno;
        for (;;) {
                /* writable once the handshake completes (or fails) */
                r = fd_wait(fd, AUTOPROCS_FD_WRITE, deadline_ns);
                if (r < 0)
                        return r;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
                        return -errno;
                if (err != 0)
                        return -err;
                /* a spurious wake-up: connected only once the peer address is known */
                {
                        struct sockaddr_storage ss;
                        socklen_t sl = sizeof(ss);

                        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
                                return 0;
                        if (errno != ENOTCONN)
                                return -errno;
                }
        }
}

AUTOPROCS_API int autoprocs_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
                                    uint64_t deadline_ns)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);
        int r = fd_connect(fd, addr, addrlen, deadline_ns);

        ap_rt_exit(rt);
        return r;
}

AUTOPROCS_API int autoprocs_fd_release(int fd)
{
        if (fd < 0)
                return -EBADF;
        ap_netpoll_forget(fd);
        return 0;
}

AUTOPROCS_API int autoprocs_fd_close(int fd)
{
        if (fd < 0)
                return -EBADF;
        ap_netpoll_forget(fd);
        return close(fd) < 0 ? -errno : 0;
}
