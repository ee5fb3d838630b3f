/*
 * Sockets and descriptors: rule C.  accept makes a connection's context,
 * connect and writes move a borrowed fd between contexts, close and the dup
 * family end and copy ownership.  The policy is in shim/fd.c.
 */
/* This file defines both fcntl and fcntl64: with 64-bit offsets requested,
 * glibc's headers would rename the first into the second. */
#undef _FILE_OFFSET_BITS
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "real.h"

/* Gives the caller the peer address as accept would have: truncated to its
 * buffer, with the true length. */
static void carry__give_peer(const struct sockaddr_storage *peer, socklen_t peer_len,
                             struct sockaddr *addr, socklen_t *len)
{
    if (addr == NULL)
        return;
    memcpy(addr, peer, peer_len < *len ? peer_len : *len);
    *len = peer_len;
}

/* Both accepts ask for the peer address (to name the context) even when the
 * caller does not, so the wrapper adds no system call. */
#define CARRY__ACCEPT(listen_fd, addr, len, call) \
    do { \
        if (!carry__on(CARRY__ACCEPT) || ((addr) != NULL && (len) == NULL)) \
            return call((struct sockaddr *)(addr), (len)); \
        struct sockaddr_storage peer; \
        socklen_t peer_len = sizeof peer; \
        int conn = call((struct sockaddr *)&peer, &peer_len); \
        if (conn >= 0) { \
            carry__give_peer(&peer, peer_len, (addr), (len)); \
            carry__fd_accepted((listen_fd), conn, (struct sockaddr *)&peer, peer_len); \
        } \
        return conn; \
    } while (0)

#define CARRY__CALL_ACCEPT(a, l) CARRY__REAL(accept)(fd, a, l)
#define CARRY__CALL_ACCEPT4(a, l) CARRY__REAL(accept4)(fd, a, l, flags)

CARRY__EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    CARRY__ACCEPT(fd, addr, len, CARRY__CALL_ACCEPT);
}

CARRY__EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    CARRY__ACCEPT(fd, addr, len, CARRY__CALL_ACCEPT4);
}

CARRY__EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int rc = CARRY__REAL(connect)(fd, addr, len);
    if ((rc == 0 || errno == EINPROGRESS) && carry__on(CARRY__ACCEPT)) {
        int saved_errno = errno;
        carry__fd_connected(fd);
        errno = saved_errno;
    }
    return rc;
}

CARRY__EXPORT int close(int fd)
{
    carry__fd_close(fd);
    return CARRY__REAL(close)(fd);
}

CARRY__EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (CARRY__REAL(close_range) == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (!(flags & CLOSE_RANGE_CLOEXEC))
        carry__fd_close_range(first, last);
    return CARRY__REAL(close_range)(first, last, flags);
}

CARRY__EXPORT int dup(int oldfd)
{
    int fd = CARRY__REAL(dup)(oldfd);
    if (fd >= 0)
        carry__fd_dup(oldfd, fd);
    return fd;
}

/* dup2 and dup3 close newfd first, unless it is oldfd. */
CARRY__EXPORT int dup2(int oldfd, int newfd)
{
    if (oldfd != newfd)
        carry__fd_close(newfd);
    int fd = CARRY__REAL(dup2)(oldfd, newfd);
    if (fd >= 0 && oldfd != newfd)
        carry__fd_dup(oldfd, fd);
    return fd;
}

CARRY__EXPORT int dup3(int oldfd, int newfd, int flags)
{
    if (oldfd != newfd)
        carry__fd_close(newfd);
    int fd = CARRY__REAL(dup3)(oldfd, newfd, flags);
    if (fd >= 0)
        carry__fd_dup(oldfd, fd);
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
        if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) \
            carry__fd_dup(fd, rc); \
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

/* Reads: with CARRY_EPOLL=batch, the first I/O on an event's fd switches
 * to that event's context. */
#define CARRY__READ(fd, call) \
    do { \
        carry__fd_io(fd); \
        return call; \
    } while (0)

/* Writes: the same, then a borrowed fd changes hands before the bytes
 * leave, so that a reply is never dispatched before its request's context
 * owns the fd. */
static inline void carry__writing(int fd)
{
    carry__fd_io(fd);
    if (carry__on(CARRY__ACCEPT))
        carry__fd_wrote(fd);
}

#define CARRY__WRITE(fd, call) \
    do { \
        carry__writing(fd); \
        return call; \
    } while (0)

/* write and writev to a tagged stdout or stderr (CARRY_TAG) go through
 * carry__tag_writev, which puts the tags and the bytes in one writev. */
static ssize_t carry__write_real(int fd, const struct iovec *iov, int cnt)
{
    (void)cnt;
    return CARRY__REAL(write)(fd, iov->iov_base, iov->iov_len);
}

static ssize_t carry__writev_real(int fd, const struct iovec *iov, int cnt)
{
    return CARRY__REAL(writev)(fd, iov, cnt);
}

CARRY__EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    CARRY__READ(fd, CARRY__REAL(read)(fd, buf, n));
}

CARRY__EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
    CARRY__READ(fd, CARRY__REAL(readv)(fd, iov, n));
}

CARRY__EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    CARRY__READ(fd, CARRY__REAL(recv)(fd, buf, n, flags));
}

CARRY__EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                               socklen_t *len)
{
    CARRY__READ(fd, CARRY__REAL(recvfrom)(fd, buf, n, flags, addr, len));
}

CARRY__EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    CARRY__READ(fd, CARRY__REAL(recvmsg)(fd, msg, flags));
}

CARRY__EXPORT int recvmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags,
                           struct timespec *timeout)
{
    CARRY__READ(fd, CARRY__REAL(recvmmsg)(fd, msgs, n, flags, timeout));
}

CARRY__EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    carry__writing(fd);
    if (carry__tag_fd(fd)) {
        struct iovec v = {(void *)buf, n};
        return carry__tag_writev(fd, &v, 1, carry__tag_id(), carry__writev_real,
                                 carry__write_real, false);
    }
    return CARRY__REAL(write)(fd, buf, n);
}

CARRY__EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    carry__writing(fd);
    /* Bad arguments get the kernel's answer, untouched. */
    if (carry__tag_fd(fd) && n > 0 && n <= IOV_MAX && iov != NULL)
        return carry__tag_writev(fd, iov, n, carry__tag_id(), carry__writev_real,
                                 carry__writev_real, false);
    return CARRY__REAL(writev)(fd, iov, n);
}

CARRY__EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    CARRY__WRITE(fd, CARRY__REAL(send)(fd, buf, n, flags));
}

CARRY__EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                             const struct sockaddr *addr, socklen_t len)
{
    CARRY__WRITE(fd, CARRY__REAL(sendto)(fd, buf, n, flags, addr, len));
}

CARRY__EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    CARRY__WRITE(fd, CARRY__REAL(sendmsg)(fd, msg, flags));
}

CARRY__EXPORT int sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags)
{
    CARRY__WRITE(fd, CARRY__REAL(sendmmsg)(fd, msgs, n, flags));
}
