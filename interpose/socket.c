/*
 * Sockets and descriptors: rule C (shim/conn.c, shim/fd.c), reads and
 * writes (rule E's batch mode, rule R, CARRY_TAG).  accept makes a
 * connection's context, socket marks datagram sockets (whose datagrams
 * begin contexts of their own), connect and writes move a borrowed fd
 * between contexts, close and the dup family end and copy ownership.
 */
/* This file defines both fcntl and fcntl64: with 64-bit offsets requested,
 * glibc's headers would rename the first into the second.  It defines the
 * fortified reads too, which the fortified headers would declare inline. */
#undef _FILE_OFFSET_BITS
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "real.h"

/* accept and accept4 with their own arguments, for the core. */
struct carry__accept_call {
    int fd, flags;
    bool four;
};

static int carry__accept_real(void *p, struct sockaddr *addr, socklen_t *len)
{
    struct carry__accept_call *c = p;
    return c->four ? CARRY__REAL(accept4)(c->fd, addr, len, c->flags)
                   : CARRY__REAL(accept)(c->fd, addr, len);
}

CARRY__EXPORT int socket(int domain, int type, int protocol)
{
    int fd = CARRY__REAL(socket)(domain, type, protocol);
    carry__hook_socket(fd, domain, type);
    return fd;
}

/* A worker that takes connections handed over together (a hand-off batch)
 * or handles a batch of events asks a connection's address before it logs
 * about it (memcached's conn_new). */
CARRY__EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    carry__hook_fd_use(fd);
    return CARRY__REAL(getpeername)(fd, addr, len);
}

CARRY__EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    carry__hook_fd_use(fd);
    return CARRY__REAL(getsockname)(fd, addr, len);
}

CARRY__EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct carry__accept_call c = {fd, 0, false};
    return carry__hook_accept(fd, addr, len, carry__accept_real, &c);
}

CARRY__EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct carry__accept_call c = {fd, flags, true};
    return carry__hook_accept(fd, addr, len, carry__accept_real, &c);
}

CARRY__EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int rc = CARRY__REAL(connect)(fd, addr, len);
    carry__hook_connect(fd, rc);
    return rc;
}

CARRY__EXPORT int close(int fd)
{
    carry__hook_close(fd);
    return CARRY__REAL(close)(fd);
}

CARRY__EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (CARRY__REAL(close_range) == NULL) {
        errno = ENOSYS;
        return -1;
    }
    carry__hook_close_range(first, last, flags);
    return CARRY__REAL(close_range)(first, last, flags);
}

/* glibc's closefrom closes through its own close_range, unseen. */
CARRY__EXPORT void closefrom(int first)
{
    carry__hook_close_range(first > 0 ? (unsigned)first : 0, UINT_MAX, 0);
    if (CARRY__REAL(closefrom) != NULL)
        CARRY__REAL(closefrom)(first);
}

/* A stream's fd closes inside libc: a connection a server wrapped in a
 * stream with fdopen ends at its fclose, as at a close. */
CARRY__EXPORT int fclose(FILE *fp)
{
    carry__hook_stream_close(fp);
    return CARRY__REAL(fclose)(fp);
}

/* freopen closes the stream's fd, whatever it opens in its place (often
 * under the same number). */
CARRY__EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
    carry__hook_stream_close(fp);
    return CARRY__REAL(freopen)(path, mode, fp);
}

CARRY__EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
    carry__hook_stream_close(fp);
    return CARRY__REAL(freopen64)(path, mode, fp);
}

CARRY__EXPORT int dup(int oldfd)
{
    int fd = CARRY__REAL(dup)(oldfd);
    carry__hook_dup(oldfd, fd);
    return fd;
}

CARRY__EXPORT int dup2(int oldfd, int newfd)
{
    int fd = CARRY__REAL(dup2)(oldfd, newfd);
    carry__hook_dup(oldfd, fd);
    return fd;
}

CARRY__EXPORT int dup3(int oldfd, int newfd, int flags)
{
    int fd = CARRY__REAL(dup3)(oldfd, newfd, flags);
    carry__hook_dup(oldfd, fd);
    return fd;
}

/* fcntl's third argument is an int or a pointer, passed in the same
 * register: forward it as a pointer, as glibc itself does. */
#define CARRY__FCNTL(real) \
    do { \
        va_list ap; \
        va_start(ap, cmd); \
        void *arg = va_arg(ap, void *); \
        va_end(ap); \
        int rc = (real)(fd, cmd, arg); \
        carry__hook_fcntl(fd, cmd, rc); \
        return rc; \
    } while (0)

CARRY__EXPORT int fcntl(int fd, int cmd, ...)
{
    CARRY__FCNTL(CARRY__REAL(fcntl));
}

CARRY__EXPORT int fcntl64(int fd, int cmd, ...)
{
    CARRY__FCNTL(CARRY__REAL(fcntl64) ? CARRY__REAL(fcntl64) : CARRY__REAL(fcntl));
}

/* Every receive: once a datagram socket exists, through datagram (an
 * entry point that makes the call); otherwise call, then done (how the
 * bytes read reach the core for rule R), given rc_. */
#define CARRY__RECV(fd, type, datagram, call, done) \
    do { \
        carry__hook_read(fd); \
        if (carry__hook_datagrams()) \
            return datagram; \
        type rc_ = call; \
        done; \
        return rc_; \
    } while (0)

/* A receive that names no peer, into bytes first (a buffer of cap),
 * which may name the call's result rc_ (the buffers of a failed call may
 * be bad pointers). */
#define CARRY__READ(fd, flags, call, bytes, cap) \
    do { \
        carry__hook_read(fd); \
        ssize_t rc_ = call; \
        if (carry__hook_datagrams()) \
            return carry__hook_recv_done(fd, flags, rc_, bytes, cap); \
        carry__hook_recv_read_done(fd, flags, rc_, bytes, cap); \
        return rc_; \
    } while (0)

/* A write of n bytes (buf: the first) on a hand-off channel's end (rule
 * H): recorded before it is made, corrected after. */
#define CARRY__CHANNEL_WRITE(fd, buf, n, type, call) \
    do { \
        uint64_t record_ = carry__hook_channel_write(fd, buf, n); \
        type rc_ = call; \
        carry__hook_channel_wrote(fd, record_, n, rc_); \
        return rc_; \
    } while (0)

/* A send of n bytes: datagram tells its destination, once datagram
 * sockets exist; inject makes it when it may begin an outgoing HTTP
 * request (rule W). */
#define CARRY__SEND(fd, buf, n, type, datagram, inject, call) \
    do { \
        unsigned how_ = carry__hook_write(fd, false); \
        if (carry__hook_datagrams()) \
            datagram; \
        if (CARRY__UNLIKELY(how_ & CARRY__WRITE_CHANNEL)) \
            CARRY__CHANNEL_WRITE(fd, buf, n, type, call); \
        if (CARRY__UNLIKELY(how_ & CARRY__WRITE_INJECT)) \
            return inject; \
        return call; \
    } while (0)

/* The writes of the core's buffers for rule W, as the program's call
 * makes them: writev for write and writev; sendmsg with the program's
 * flags, destination and ancillary data (msg's, whose buffers are not
 * used) for the sends. */
static ssize_t carry__writev_out(const void *call, int fd, const struct iovec *iov, int cnt)
{
    (void)call;
    return CARRY__REAL(writev)(fd, iov, cnt);
}

struct carry__send_call {
    const struct msghdr *msg;
    int flags;
};

static ssize_t carry__sendmsg_out(const void *p, int fd, const struct iovec *iov, int cnt)
{
    const struct carry__send_call *c = p;
    struct msghdr m = *c->msg;
    m.msg_iov = (struct iovec *)iov;
    m.msg_iovlen = (size_t)cnt;
    return CARRY__REAL(sendmsg)(fd, &m, c->flags);
}

/* A send of cnt buffers (src), with flags and msg's destination and
 * ancillary data, through the core. */
#define CARRY__SEND_INJECT(fd, src, cnt, flags, msg) \
    carry__hook_write_inject(fd, src, cnt, carry__hook_send_addable(flags, msg), \
                             carry__sendmsg_out, &(struct carry__send_call){msg, flags})

/* recvfrom, recvmsg and recvmmsg with their own arguments, for the core. */
struct carry__recvfrom_call {
    int fd, flags;
    void *buf;
    size_t n;
};

static ssize_t carry__recvfrom_real(void *p, struct sockaddr *addr, socklen_t *len)
{
    struct carry__recvfrom_call *c = p;
    return CARRY__REAL(recvfrom)(c->fd, c->buf, c->n, c->flags, addr, len);
}

struct carry__recvmsg_call {
    int fd, flags;
    struct msghdr *msg;
};

static ssize_t carry__recvmsg_real(void *p)
{
    struct carry__recvmsg_call *c = p;
    return CARRY__REAL(recvmsg)(c->fd, c->msg, c->flags);
}

struct carry__recvmmsg_call {
    int fd, flags;
    struct mmsghdr *msgs;
    unsigned n;
    struct timespec *timeout;
};

static ssize_t carry__recvmmsg_real(void *p)
{
    struct carry__recvmmsg_call *c = p;
    return CARRY__REAL(recvmmsg)(c->fd, c->msgs, c->n, c->flags, c->timeout);
}

/* write and writev to a tagged stdout or stderr (CARRY_TAG) go out with
 * their tags in one writev (the real one); with no tag to add, write is
 * its own call, in writev's shape. */
static ssize_t carry__write_plain(int fd, const struct iovec *iov, int cnt)
{
    (void)cnt;
    return CARRY__REAL(write)(fd, iov->iov_base, iov->iov_len);
}

/* The read family's own paths, for what the common read leaves
 * (hooks.h). */
static ssize_t carry__read_full(int fd, void *buf, size_t n)
{
    CARRY__READ(fd, 0, CARRY__REAL(read)(fd, buf, n), buf, n);
}

static ssize_t carry__readv_full(int fd, const struct iovec *iov, int n)
{
    CARRY__READ(fd, 0, CARRY__REAL(readv)(fd, iov, n), rc_ > 0 ? iov->iov_base : NULL,
                carry__hook_readv_cap(rc_, iov, (size_t)n));
}

static ssize_t carry__recv_full(int fd, void *buf, size_t n, int flags)
{
    CARRY__READ(fd, flags, CARRY__REAL(recv)(fd, buf, n, flags), buf, n);
}

CARRY__EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    return carry__hook_read_call(fd, buf, n, CARRY__REAL_BOUND(read), carry__read_full);
}

CARRY__EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
    return carry__hook_readv_call(fd, iov, n, CARRY__REAL_BOUND(readv), carry__readv_full);
}

CARRY__EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    return carry__hook_recv_call(fd, buf, n, flags, CARRY__REAL_BOUND(recv), carry__recv_full);
}

static inline ssize_t carry__recvfrom(int fd, void *buf, size_t n, int flags,
                                      struct sockaddr *addr, socklen_t *len)
{
    CARRY__RECV(fd, ssize_t,
                carry__hook_recvfrom(fd, flags, addr, len, carry__recvfrom_real,
                                     &(struct carry__recvfrom_call){fd, flags, buf, n}, buf, n),
                CARRY__REAL(recvfrom)(fd, buf, n, flags, addr, len),
                carry__hook_recv_read_done(fd, flags, rc_, buf, n));
}

CARRY__EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                               socklen_t *len)
{
    return carry__recvfrom(fd, buf, n, flags, addr, len);
}

/* The fortified reads, which _FORTIFY_SOURCE makes of a read into a buffer
 * of known size: glibc's read through its own read, unseen.  A read that
 * fits its buffer goes the plain one's way; any other is glibc's to refuse
 * (it aborts, saying why). */
CARRY__EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t size)
{
    if (n > size)
        return CARRY__REAL(__read_chk)(fd, buf, n, size);
    return carry__hook_read_call(fd, buf, n, CARRY__REAL_BOUND(read), carry__read_full);
}

CARRY__EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t size, int flags)
{
    if (n > size)
        return CARRY__REAL(__recv_chk)(fd, buf, n, size, flags);
    return carry__hook_recv_call(fd, buf, n, flags, CARRY__REAL_BOUND(recv), carry__recv_full);
}

CARRY__EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t size, int flags,
                                     struct sockaddr *addr, socklen_t *len)
{
    if (n > size)
        return CARRY__REAL(__recvfrom_chk)(fd, buf, n, size, flags, addr, len);
    return carry__recvfrom(fd, buf, n, flags, addr, len);
}

CARRY__EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    CARRY__RECV(fd, ssize_t,
                carry__hook_recvmsg(fd, msg, flags, carry__recvmsg_real,
                                    &(struct carry__recvmsg_call){fd, flags, msg}),
                CARRY__REAL(recvmsg)(fd, msg, flags),
                carry__hook_recvmsg_done(fd, flags, rc_, msg));
}

CARRY__EXPORT int recvmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags,
                           struct timespec *timeout)
{
    CARRY__RECV(fd, int,
                carry__hook_recvmmsg(fd, msgs, n, flags, carry__recvmmsg_real,
                                     &(struct carry__recvmmsg_call){fd, flags, msgs, n, timeout}),
                CARRY__REAL(recvmmsg)(fd, msgs, n, flags, timeout),
                carry__hook_recv_read_done(fd, flags, rc_, NULL, 0));
}

/* The write family's own paths, for what the common write leaves
 * (hooks.h). */
static ssize_t carry__write_full(int fd, const void *buf, size_t n)
{
    unsigned how = carry__hook_write(fd, true);
    if (CARRY__UNLIKELY(how & CARRY__WRITE_CHANNEL))
        CARRY__CHANNEL_WRITE(fd, buf, n, ssize_t, CARRY__REAL(write)(fd, buf, n));
    if (how) {
        struct iovec v = {(void *)buf, n};
        if (how & CARRY__WRITE_INJECT)
            return carry__hook_write_inject(fd, &v, 1, true, carry__writev_out, NULL);
        return carry__hook_write_tagged(fd, &v, 1, CARRY__REAL(writev), carry__write_plain);
    }
    return CARRY__REAL(write)(fd, buf, n);
}

static ssize_t carry__writev_full(int fd, const struct iovec *iov, int n)
{
    unsigned how = carry__hook_write(fd, true);
    /* Bad arguments get the kernel's answer, untouched. */
    bool sane = n > 0 && n <= IOV_MAX && iov != NULL;
    if (CARRY__UNLIKELY(how & CARRY__WRITE_CHANNEL) && sane)
        CARRY__CHANNEL_WRITE(fd, iov->iov_base, carry__hook_iov_bytes(iov, (size_t)n), ssize_t,
                             CARRY__REAL(writev)(fd, iov, n));
    if (CARRY__UNLIKELY(how & CARRY__WRITE_INJECT) && sane)
        return carry__hook_write_inject(fd, iov, n, true, carry__writev_out, NULL);
    if (how && sane)
        return carry__hook_write_tagged(fd, iov, n, CARRY__REAL(writev), CARRY__REAL(writev));
    return CARRY__REAL(writev)(fd, iov, n);
}

static ssize_t carry__send_full(int fd, const void *buf, size_t n, int flags)
{
    CARRY__SEND(fd, buf, n, ssize_t, (void)0,
                CARRY__SEND_INJECT(fd, (&(struct iovec){(void *)buf, n}), 1, flags,
                                   &(struct msghdr){0}),
                CARRY__REAL(send)(fd, buf, n, flags));
}

CARRY__EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                             const struct sockaddr *addr, socklen_t len)
{
    CARRY__SEND(fd, buf, n, ssize_t, carry__hook_send_datagram(fd, addr, len),
                CARRY__SEND_INJECT(fd, (&(struct iovec){(void *)buf, n}), 1, flags,
                                   (&(struct msghdr){.msg_name = (void *)addr, .msg_namelen = len})),
                CARRY__REAL(sendto)(fd, buf, n, flags, addr, len));
}

static ssize_t carry__sendmsg_full(int fd, const struct msghdr *msg, int flags)
{
    CARRY__SEND(fd, NULL, msg ? carry__hook_iov_bytes(msg->msg_iov, msg->msg_iovlen) : 0, ssize_t,
                carry__hook_send_msg(fd, msg),
                /* A bad msghdr is the kernel's to refuse (EFAULT, EMSGSIZE). */
                msg != NULL && msg->msg_iovlen <= IOV_MAX &&
                        (msg->msg_iov != NULL || msg->msg_iovlen == 0)
                    ? CARRY__SEND_INJECT(fd, msg->msg_iov, (int)msg->msg_iovlen, flags, msg)
                    : CARRY__REAL(sendmsg)(fd, msg, flags),
                CARRY__REAL(sendmsg)(fd, msg, flags));
}

CARRY__EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    return carry__hook_write_call(fd, buf, n, CARRY__REAL_BOUND(write), carry__write_full);
}

CARRY__EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    return carry__hook_writev_call(fd, iov, n, CARRY__REAL_BOUND(writev), carry__writev_full);
}

CARRY__EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    return carry__hook_send_call(fd, buf, n, flags, CARRY__REAL_BOUND(send), carry__send_full);
}

CARRY__EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return carry__hook_sendmsg_call(fd, msg, flags, CARRY__REAL_BOUND(sendmsg),
                                    carry__sendmsg_full);
}

/* The kernel's copies between fds (sendfile, splice): their bytes never
 * pass through the program's memory, so a copy is a write that carry
 * cannot see to out (its turn and hand-over, rules R and C; no tag, no
 * traceparent) and, for splice, such a read from in (a request's turn,
 * with no HTTP head to look at).  A copy into a hand-off channel makes
 * no record (0 bytes, as sendmmsg's): the pipe a proxy splices through is
 * its own buffer, and its bytes belong to the request the copy's read
 * side begins, after the record would be made. */
CARRY__EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t n)
{
    CARRY__SEND(out, NULL, 0, ssize_t, carry__hook_send_msg(out, NULL),
                CARRY__REAL(sendfile)(out, in, offset, n),
                CARRY__REAL(sendfile)(out, in, offset, n));
}

CARRY__EXPORT ssize_t sendfile64(int out, int in, off64_t *offset, size_t n)
{
    CARRY__SEND(out, NULL, 0, ssize_t, carry__hook_send_msg(out, NULL),
                CARRY__REAL(sendfile64)(out, in, offset, n),
                CARRY__REAL(sendfile64)(out, in, offset, n));
}

static ssize_t carry__splice_out(int in, loff_t *in_offset, int out, loff_t *out_offset, size_t n,
                                 unsigned flags)
{
    CARRY__SEND(out, NULL, 0, ssize_t, carry__hook_send_msg(out, NULL),
                CARRY__REAL(splice)(in, in_offset, out, out_offset, n, flags),
                CARRY__REAL(splice)(in, in_offset, out, out_offset, n, flags));
}

CARRY__EXPORT ssize_t splice(int in, loff_t *in_offset, int out, loff_t *out_offset, size_t n,
                             unsigned flags)
{
    CARRY__READ(in, 0, carry__splice_out(in, in_offset, out, out_offset, n, flags), NULL,
                rc_ == 0 ? n : 0);
}

CARRY__EXPORT int sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags)
{
    /* Not recorded on a channel (0 bytes: no record), nor given a
     * traceparent (rule W), where it is rare. */
    CARRY__SEND(fd, NULL, 0, int,
                carry__hook_send_msg(fd, n > 0 && msgs != NULL ? &msgs->msg_hdr : NULL),
                CARRY__REAL(sendmmsg)(fd, msgs, n, flags), CARRY__REAL(sendmmsg)(fd, msgs, n, flags));
}
