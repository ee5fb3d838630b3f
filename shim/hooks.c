/*
 * The entry points of hooks.h: each starts carry if need be, asks whether
 * its rule is on, keeps the program's errno, and calls the modules that
 * hold the policy.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "chan.h"
#include "condvar.h"
#include "conn.h"
#include "crash.h"
#include "current.h"
#include "dgram.h"
#include "epoll.h"
#include "export.h"
#include "fd.h"
#include "hooks.h"
#include "inherit.h"
#include "inject.h"
#include "init.h"
#include "records.h"
#include "request.h"
#include "sigdisp.h"
#include "stats.h"
#include "tag.h"
#include "tagstdio.h"
#include "thread.h"

/* ---- Threads ------------------------------------------------------------- */

bool carry__hook_thread_create(void *(**fn)(void *), void **arg)
{
    return carry__on(CARRY__RULE_THREADS) && carry__thread_capture(fn, arg);
}

void carry__hook_thread_failed(void *arg)
{
    int saved_errno = errno;
    carry__thread_abandon(arg);
    errno = saved_errno;
}

static carry__thread_create_fn *carry__thread_real;

/* The core's own threads start in no context.  Under ThreadSanitizer the
 * real pthread_create is the runtime's, which reaches libcarry's wrapper
 * (it comes after the runtime): with no context current, rule T has
 * nothing to carry and adds no trampoline, which would run before the
 * runtime knows the thread. */
static int carry__thread_create_bare(pthread_t *thread, const pthread_attr_t *attr,
                                     void *(*fn)(void *), void *arg)
{
    carry_ctx *prev CARRY__SCOPED(carry__scope_leave) = carry__scope_enter(NULL);
    return carry__thread_real(thread, attr, fn, arg);
}

void carry__hook_thread_real(carry__thread_create_fn *real)
{
    carry__thread_real = real;
    carry__export_set_thread_create(carry__thread_create_bare);
}

/* ---- Processes ----------------------------------------------------------- */

bool carry__hook_exec_strip(void)
{
    carry__ensure_init();
    return carry__inherit_strip();
}

size_t carry__hook_exec_env_count(char *const *envp)
{
    return carry__env_count(envp);
}

char *const *carry__hook_exec_env(char *const *envp, char **out, size_t n_out, char *buf,
                                  size_t buf_size)
{
    return carry__env_without_carry(envp, out, n_out, buf, buf_size);
}

/* ---- Descriptors --------------------------------------------------------- */

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

/* The peer address is asked for (to name the context) even when the caller
 * does not, so that naming it costs no system call. */
int carry__hook_accept(int listen_fd, struct sockaddr *addr, socklen_t *len,
                       carry__accept_fn *real, void *call)
{
    if (!carry__on(CARRY__RULE_ACCEPT) || (addr != NULL && len == NULL))
        return real(call, addr, len);
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    int fd = real(call, (struct sockaddr *)&peer, &peer_len);
    if (fd >= 0) {
        int saved_errno = errno;
        carry__give_peer(&peer, peer_len, addr, len);
        bool requests = carry__on(CARRY__RULE_REQUESTS);
        /* Read first: a shared word is written once, not by every accept. */
        if (carry__conn_accepted(listen_fd, fd, (struct sockaddr *)&peer, peer_len, requests) &&
            requests &&
            !(atomic_load_explicit(&carry__io_watch, memory_order_relaxed) &
              CARRY__WATCH_REQUESTS))
            atomic_fetch_or_explicit(&carry__io_watch, CARRY__WATCH_REQUESTS,
                                     memory_order_relaxed);
        errno = saved_errno;
    }
    return fd;
}

void carry__hook_connect(int fd, int rc)
{
    if ((rc != 0 && errno != EINPROGRESS) || !carry__on(CARRY__RULE_ACCEPT))
        return;
    int saved_errno = errno;
    if (carry__conn_connected(fd)) {
        unsigned watch = CARRY__WATCH_BORROWED;
        if (carry__config.trace == CARRY__TRACE_INJECT &&
            carry__inject_connected(carry__fd_get(fd), fd))
            watch |= CARRY__WATCH_INJECT;
        atomic_fetch_or_explicit(&carry__io_watch, watch, memory_order_relaxed);
    }
    errno = saved_errno;
}

/* Does fd's entry hold anything (its ownership, its channel, its outgoing
 * requests' state)?  A file carry never tracked has a blank one. */
static inline bool carry__fd_tracked(int fd)
{
    struct carry__fd *e = carry__fd_peek(fd);
    return e != NULL && !carry__fd_blank(e);
}

/* fd's state ends: what its entry holds when tracked, its registrations,
 * its epoll state. */
static void carry__fd_end(int fd, bool tracked)
{
    if (tracked) {
        carry__fd_closed(fd);
        carry__chan_closed(fd);
        carry__inject_closed(fd);
    }
    carry__ep_closed(fd);
}

void carry__hook_close(int fd)
{
    /* Most fds a program closes are files carry never tracked: nothing
     * ends, and errno is not even read. */
    bool tracked = carry__fd_tracked(fd);
    if (!tracked && carry__ep_fd_blank(fd))
        return;
    int saved_errno = errno;
    carry__fd_end(fd, tracked);
    errno = saved_errno;
}

void carry__hook_close_range(unsigned first, unsigned last, int flags)
{
    if (flags & CLOSE_RANGE_CLOEXEC)
        return;
    if (last >= CARRY__FDMAP_LIMIT)
        last = CARRY__FDMAP_LIMIT - 1;
    for (unsigned fd = first; fd <= last; fd++) {
        /* Skip whole pages carry never used. */
        if (fd % CARRY__FDMAP_PAGE == 0 && carry__fd_get((int)fd) == NULL &&
            !carry__ep_knows((int)fd)) {
            fd += CARRY__FDMAP_PAGE - 1;
            continue;
        }
        carry__hook_close((int)fd);
    }
}

void carry__hook_stream_close(FILE *fp)
{
    if (fp == NULL)
        return;
    /* A stream with no fd (fmemopen, fopencookie) sets errno here. */
    int saved_errno = errno;
    int fd = fileno(fp);
    errno = saved_errno;
    if (fd >= 0)
        carry__hook_close(fd);
}

void carry__hook_dup(int oldfd, int rc)
{
    if (rc < 0 || rc == oldfd)
        return;
    int saved_errno = errno;
    carry__fd_end(rc, carry__fd_tracked(rc));
    carry__fd_dup(oldfd, rc);
    carry__chan_dup(oldfd, rc);
    errno = saved_errno;
}

void carry__hook_fcntl(int fd, int cmd, int rc)
{
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        carry__hook_dup(fd, rc);
}

void carry__hook_syscall(long number, long a, long b, long c)
{
    if (number == SYS_close)
        carry__hook_close((int)a);
    else if (number == SYS_close_range)
        carry__hook_close_range((unsigned)a, (unsigned)b, (int)c);
}

/* ---- Reads and writes ---------------------------------------------------- */

/* CARRY_EPOLL=batch: I/O on an fd of the thread's batch switches to its
 * event's context. */
void carry__hook_batch_io(int fd, bool write)
{
    if (carry__io_batch & CARRY__IO_HANDOFF)
        carry__chan_batch_io(fd);
    if (carry__io_batch & ~CARRY__IO_HANDOFF)
        carry__ep_batch_io(fd, write);
}

void carry__hook_read_slow(int fd)
{
    carry__fd_check_io(fd);
}

/* The watch bits (watch.h) that concern some fds only: with no other
 * set, a read or write is common unless its fd is one of those. */
#define CARRY__WATCH_FDS \
    (CARRY__WATCH_REQUESTS | CARRY__WATCH_CHANNELS | CARRY__WATCH_BORROWED | \
     CARRY__WATCH_INJECT | CARRY__WATCH_DATAGRAMS)

/* A read on fd (its entry e) returned rc into bytes first (a buffer of
 * cap bytes). */
static inline __attribute__((always_inline)) void
carry__read_done(struct carry__fd *e, int fd, ssize_t rc, const void *bytes, size_t cap)
{
    unsigned kind = atomic_load_explicit(&e->kind, memory_order_relaxed);
    if (kind == CARRY__FD_ACCEPTED)
        carry__request_read(e, fd, rc, bytes, cap);
    else if (rc > 0 && kind == CARRY__FD_CONNECTED)
        carry__inject_read(e);
    else if (rc > 0 && carry__chan_end(e))
        carry__chan_read(e, rc, bytes, cap);
}

void carry__hook_read_done_slow(int fd, ssize_t rc, const void *bytes, size_t cap)
{
    struct carry__fd *e = carry__fd_peek(fd);
    if (e != NULL)
        carry__read_done(e, fd, rc, bytes, cap);
}

/* How a read goes (hooks.h's common read): the real call alone, or with
 * its result given to the core (SEEN), or the wrapper's path. */
enum { CARRY__READ_FULL, CARRY__READ_PLAIN, CARRY__READ_SEEN, CARRY__READ_IN_BATCH };

/* How a read on fd goes; SEEN sets *e to fd's entry, a connection or a
 * channel end.  switched: the read's epoll batch switch is made (else
 * IN_BATCH asks for it). */
static inline __attribute__((always_inline)) unsigned carry__read_way(int fd, bool switched,
                                                                      struct carry__fd **e)
{
    unsigned watch = atomic_load_explicit(&carry__io_watch, memory_order_relaxed);
    *e = NULL;
    if (!switched && CARRY__UNLIKELY(carry__io_batch != 0))
        return CARRY__READ_IN_BATCH;
    if (watch & CARRY__WATCH_STATS)
        return CARRY__READ_FULL;
    struct carry__fd *entry;
    if ((watch & CARRY__WATCH_FDS) == 0 || (entry = carry__fd_peek(fd)) == NULL)
        return CARRY__READ_PLAIN;
    /* An accepted connection first, the common read of a server: its
     * result only matters to rule R (it is never a channel's end).  A
     * datagram begins a request of its own (rule R): the wrapper's path. */
    unsigned kind = atomic_load_explicit(&entry->kind, memory_order_relaxed);
    if (kind == CARRY__FD_ACCEPTED ? !(watch & CARRY__WATCH_REQUESTS)
                                   : kind == CARRY__FD_NONE && !carry__chan_end(entry))
        return CARRY__READ_PLAIN;
    if (kind == CARRY__FD_DATAGRAM)
        return CARRY__READ_FULL;
    *e = entry;
    return CARRY__READ_SEEN;
}

/* The end of an entry point below, once the read's way is known.  Only
 * a SEEN read needs a frame (its result goes to the core), so it is made
 * by a function of its own, seen(e), and the others leave the entry point
 * as tail calls that save no registers. */
#define CARRY__READ_GO(way, e, args, seen) \
    do { \
        if ((way) == CARRY__READ_PLAIN) \
            return real args; \
        if ((way) == CARRY__READ_FULL) \
            return full args; \
        return seen; \
    } while (0)

/* The read of a SEEN way, given fd's entry e: bytes and cap, the buffer
 * a read of rc filled first, are only evaluated for rc > 0, when the
 * kernel has taken the program's buffers; asked, for rc <= 0, is how many
 * bytes the read asked for (which matters for rc 0 only, when the kernel
 * has read the program's buffers too).  A read in an epoll batch switches
 * first, in a function of its own (the wrapper's path makes its switch
 * itself). */
#define CARRY__READ_ENTRY(name, params, seen_params, args, all, seen_args, bytes, cap, asked, \
                          peeks) \
    static __attribute__((noinline)) ssize_t carry__##name##_seen seen_params \
    { \
        ssize_t rc = real args; \
        if (!(peeks)) \
            carry__read_done(e, fd, rc, rc > 0 ? (bytes) : NULL, rc > 0 ? (cap) : (asked)); \
        return rc; \
    } \
    static __attribute__((noinline)) ssize_t carry__##name##_in_batch params \
    { \
        struct carry__fd *e; \
        unsigned way = carry__read_way(fd, true, &e); \
        if (way != CARRY__READ_FULL) \
            carry__hook_batch_io(fd, false); \
        CARRY__READ_GO(way, e, args, carry__##name##_seen seen_args); \
    } \
    ssize_t carry__hook_##name##_call params \
    { \
        struct carry__fd *e = NULL; \
        unsigned way = real != NULL ? carry__read_way(fd, false, &e) : CARRY__READ_FULL; \
        if (CARRY__UNLIKELY(way == CARRY__READ_IN_BATCH)) \
            return carry__##name##_in_batch all; \
        CARRY__READ_GO(way, e, args, carry__##name##_seen seen_args); \
    }

CARRY__READ_ENTRY(read,
                  (int fd, void *buf, size_t n, carry__read_fn *real, carry__read_fn *full),
                  (int fd, void *buf, size_t n, carry__read_fn *real, struct carry__fd *e),
                  (fd, buf, n), (fd, buf, n, real, full), (fd, buf, n, real, e), buf, n, n, false)
CARRY__READ_ENTRY(readv,
                  (int fd, const struct iovec *iov, int cnt, carry__readv_fn *real,
                   carry__readv_fn *full),
                  (int fd, const struct iovec *iov, int cnt, carry__readv_fn *real,
                   struct carry__fd *e),
                  (fd, iov, cnt), (fd, iov, cnt, real, full), (fd, iov, cnt, real, e),
                  iov->iov_base, iov->iov_len, carry__hook_readv_cap(rc, iov, (size_t)cnt), false)
CARRY__READ_ENTRY(recv,
                  (int fd, void *buf, size_t n, int flags, carry__recv_into_fn *real,
                   carry__recv_into_fn *full),
                  (int fd, void *buf, size_t n, int flags, carry__recv_into_fn *real,
                   struct carry__fd *e),
                  (fd, buf, n, flags), (fd, buf, n, flags, real, full),
                  (fd, buf, n, flags, real, e), buf, n, n, carry__hook_recv_peeks(flags))

/* A write's turn (rule R) and hand-off (rule H): one look-up of fd. */
static inline unsigned carry__write_turn(int fd, unsigned watch)
{
    struct carry__fd *e;
    if ((watch & (CARRY__WATCH_REQUESTS | CARRY__WATCH_CHANNELS)) &&
        (e = carry__fd_peek(fd)) != NULL) {
        if (watch & CARRY__WATCH_REQUESTS)
            carry__request_wrote(e, carry__current());
        if (carry__chan_end(e))
            return CARRY__WRITE_CHANNEL;
    }
    return 0;
}

/* Writes while carry starts or counts, once an fd was connected, or with
 * tagging on: apart, so that the common write saves no registers. */
static __attribute__((noinline)) unsigned carry__write_rare(int fd, bool taggable, unsigned watch)
{
    if (watch & CARRY__WATCH_START) {
        carry__ensure_init();
        watch = atomic_load_explicit(&carry__io_watch, memory_order_relaxed);
    }
    if (watch & CARRY__WATCH_STATS)
        carry__fd_check_io(fd);
    /* A borrowed fd changes hands before the bytes leave, so that a reply
     * is never dispatched before its request's context owns the fd. */
    if (watch & CARRY__WATCH_BORROWED) {
        carry_ctx *current = carry__current();
        carry__fd_wrote(fd, current);
        if ((watch & CARRY__WATCH_INJECT) && carry__inject_wants(carry__fd_get(fd), current))
            return CARRY__WRITE_INJECT;
    }
    unsigned how = carry__write_turn(fd, watch);
    if (how != 0)
        return how;
    return taggable && (watch & CARRY__WATCH_TAG) && carry__tag_fd(fd) ? CARRY__WRITE_TAGGED : 0;
}

unsigned carry__hook_write_slow(int fd, bool taggable, unsigned watch)
{
    if (CARRY__UNLIKELY(watch & ~(CARRY__WATCH_REQUESTS | CARRY__WATCH_CHANNELS |
                                  CARRY__WATCH_DATAGRAMS)))
        return carry__write_rare(fd, taggable, watch);
    return carry__write_turn(fd, watch);
}

/* How a write goes (hooks.h's common write). */
enum { CARRY__WRITE_FULL, CARRY__WRITE_PLAIN, CARRY__WRITE_ON_CHANNEL, CARRY__WRITE_IN_BATCH };

/* How a write on fd goes; its turn is recorded when PLAIN.  switched: the
 * write's epoll batch switch is made (else IN_BATCH asks for it).  Inline,
 * with no call, so that the entry points below keep their arguments where
 * they came in. */
static inline __attribute__((always_inline)) unsigned carry__write_way(int fd, bool switched)
{
    unsigned watch = atomic_load_explicit(&carry__io_watch, memory_order_relaxed);
    if (!switched && CARRY__UNLIKELY(carry__io_batch != 0))
        return CARRY__WRITE_IN_BATCH;
    if ((watch & ~CARRY__WATCH_FDS) != 0)
        return CARRY__WRITE_FULL;
    struct carry__fd *e;
    if (watch == 0 || (e = carry__fd_peek(fd)) == NULL)
        return CARRY__WRITE_PLAIN;
    /* An accepted connection first, the common write of a server: it is
     * never a channel's end (those are the program's pipes, eventfds and
     * socketpairs). */
    unsigned kind = atomic_load_explicit(&e->kind, memory_order_relaxed);
    if (kind == CARRY__FD_ACCEPTED)
        return !(watch & CARRY__WATCH_REQUESTS) || carry__request_wrote_plain(e)
                   ? CARRY__WRITE_PLAIN
                   : CARRY__WRITE_FULL;
    if (carry__chan_end(e))
        return CARRY__WRITE_ON_CHANNEL;
    /* A connected fd changes hands at each write (rule C) and may take a
     * traceparent (rule W); a datagram socket's reply may switch to its
     * datagram's context (rule R): the wrapper's path. */
    return kind == CARRY__FD_CONNECTED || kind == CARRY__FD_DATAGRAM ? CARRY__WRITE_FULL
                                                                       : CARRY__WRITE_PLAIN;
}

/* A write of n bytes from buf on a hand-off channel's end (rule H):
 * recorded before it is made, corrected after. */
static __attribute__((noinline)) ssize_t carry__write_on_channel(int fd, const void *buf, size_t n,
                                                                 carry__write_fn *real)
{
    uint64_t record = carry__hook_channel_write(fd, buf, n);
    ssize_t rc = real(fd, buf, n);
    carry__hook_channel_wrote(fd, record, n, rc);
    return rc;
}

/* The end of an entry point below, once the write's way is known. */
#define CARRY__WRITE_GO(way, args, on_channel) \
    do { \
        if (CARRY__LIKELY((way) == CARRY__WRITE_PLAIN)) \
            return real args; \
        if ((way) == CARRY__WRITE_ON_CHANNEL) \
            return on_channel; \
        return full args; \
    } while (0)

/* on_channel: the call for a channel's end (write's own; the full path
 * for the others, which are rare there).  A write in an epoll batch
 * switches first, in a function of its own that keeps the frame (the
 * wrapper's path makes its switch itself). */
#define CARRY__WRITE_ENTRY(name, params, args, all, on_channel) \
    static __attribute__((noinline)) ssize_t carry__##name##_in_batch params \
    { \
        unsigned way = carry__write_way(fd, true); \
        if (way != CARRY__WRITE_FULL) \
            carry__hook_batch_io(fd, true); \
        CARRY__WRITE_GO(way, args, on_channel); \
    } \
    ssize_t carry__hook_##name##_call params \
    { \
        unsigned way = real != NULL ? carry__write_way(fd, false) : CARRY__WRITE_FULL; \
        if (CARRY__UNLIKELY(way == CARRY__WRITE_IN_BATCH)) \
            return carry__##name##_in_batch all; \
        CARRY__WRITE_GO(way, args, on_channel); \
    }

CARRY__WRITE_ENTRY(write,
                   (int fd, const void *buf, size_t n, carry__write_fn *real,
                    carry__write_fn *full),
                   (fd, buf, n), (fd, buf, n, real, full),
                   carry__write_on_channel(fd, buf, n, real))
CARRY__WRITE_ENTRY(writev,
                   (int fd, const struct iovec *iov, int cnt, carry__writev_fn *real,
                    carry__writev_fn *full),
                   (fd, iov, cnt), (fd, iov, cnt, real, full), full(fd, iov, cnt))
CARRY__WRITE_ENTRY(send,
                   (int fd, const void *buf, size_t n, int flags, carry__send_fn *real,
                    carry__send_fn *full),
                   (fd, buf, n, flags), (fd, buf, n, flags, real, full),
                   full(fd, buf, n, flags))
CARRY__WRITE_ENTRY(sendmsg,
                   (int fd, const struct msghdr *msg, int flags, carry__sendmsg_fn *real,
                    carry__sendmsg_fn *full),
                   (fd, msg, flags), (fd, msg, flags, real, full), full(fd, msg, flags))

uint64_t carry__hook_channel_write(int fd, const void *buf, size_t n)
{
    int saved_errno = errno;
    uint64_t record = carry__chan_write(fd, buf, n);
    errno = saved_errno;
    return record;
}

void carry__hook_channel_wrote(int fd, uint64_t record, size_t n, ssize_t rc)
{
    /* A whole write leaves its record as it was made. */
    if (record != 0 && (rc < 0 || (size_t)rc != n))
        carry__chan_wrote(fd, record, rc);
}

/* ---- Channels ------------------------------------------------------------ */

/* libuv's own fds are its plumbing, not hand-offs: a thread that wakes a
 * loop (uv_async_send, the thread pool's completions, a signal) does so for
 * callbacks whose records carry their contexts (rule L), and libuv's signal
 * lock is a pipe, read when a signal handle starts or stops and in libuv's
 * signal handler: its read would make the context of the lock's last
 * holder current in the middle of the callback (or of whatever code the
 * signal interrupted, carry's own included). */
static void carry__channel_made(unsigned kind, const int fds[2], const void *caller)
{
    if (!carry__on(CARRY__RULE_CHANNELS) || carry__crash_reporting())
        return;
    int saved_errno = errno;
    if (!carry__libuv_object(caller) && carry__chan_made(kind, fds))
        atomic_fetch_or_explicit(&carry__io_watch, CARRY__WATCH_CHANNELS, memory_order_relaxed);
    errno = saved_errno;
}

void carry__hook_pipe(int rc, const int fds[2], const void *caller)
{
    if (rc == 0)
        carry__channel_made(CARRY__CHAN_PIPE, fds, caller);
}

void carry__hook_eventfd(int rc, int flags, const void *caller)
{
    if (rc >= 0)
        carry__channel_made(CARRY__CHAN_EVENTFD |
                                (flags & EFD_SEMAPHORE ? CARRY__CHAN_ONE_PER_READ : 0),
                            (const int[2]){rc, -1}, caller);
}

void carry__hook_socketpair(int rc, int domain, int type, const int fds[2], const void *caller)
{
    if (rc == 0 && domain == AF_UNIX)
        carry__channel_made(CARRY__CHAN_SOCKETPAIR |
                                ((type & 0xf) != SOCK_STREAM ? CARRY__CHAN_ONE_PER_READ : 0),
                            fds, caller);
}

ssize_t carry__hook_write_tagged(int fd, const struct iovec *src, int cnt,
                                 carry__writev_fn *real_writev, carry__writev_fn *plain)
{
    return carry__tag_writev(fd, src, cnt, carry__tag_current(), real_writev, plain, false);
}

ssize_t carry__hook_write_inject(int fd, const struct iovec *src, int cnt, bool addable,
                                 carry__sendv_fn *out, const void *call)
{
    return carry__inject_writev(fd, src, cnt, addable, out, call);
}

/* ---- Datagrams ----------------------------------------------------------- */

void carry__hook_socket(int fd, int domain, int type)
{
    if (fd < 0 || (type & 0xf) != SOCK_DGRAM || !carry__on(CARRY__RULE_REQUESTS))
        return;
    int saved_errno = errno;
    if (carry__dgram_socket(fd, domain, type))
        atomic_fetch_or_explicit(&carry__io_watch, CARRY__WATCH_DATAGRAMS, memory_order_relaxed);
    errno = saved_errno;
}

/* A receive that begins no datagram: a stream's read (rule R), a peek, a
 * read of the error queue. */
static ssize_t carry__recv_stream(int fd, int flags, ssize_t rc, const void *bytes, size_t cap)
{
    carry__hook_recv_read_done(fd, flags, rc, bytes, cap);
    return rc;
}

ssize_t carry__hook_recv_done(int fd, int flags, ssize_t rc, const void *bytes, size_t cap)
{
    struct carry__fd *e = carry__dgram_fd(fd);
    if (e == NULL || rc < 0 || carry__hook_recv_peeks(flags))
        return carry__recv_stream(fd, flags, rc, bytes, cap);
    int saved_errno = errno;
    carry__dgram_received(e, fd, NULL, 0);
    errno = saved_errno;
    return rc;
}

/* The peer is asked for even when the caller does not ask, and given back
 * as accept's is (carry__give_peer). */
ssize_t carry__hook_recvfrom(int fd, int flags, struct sockaddr *addr, socklen_t *len,
                             carry__recvfrom_fn *real, void *call, const void *bytes, size_t cap)
{
    struct carry__fd *e = carry__dgram_fd(fd);
    if (e == NULL || carry__hook_recv_peeks(flags) || (addr != NULL && len == NULL))
        return carry__recv_stream(fd, flags, real(call, addr, len), bytes, cap);
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    ssize_t rc = real(call, (struct sockaddr *)&peer, &peer_len);
    if (rc >= 0) {
        int saved_errno = errno;
        carry__give_peer(&peer, peer_len, addr, len);
        carry__dgram_received(e, fd, (struct sockaddr *)&peer, peer_len);
        errno = saved_errno;
    }
    return rc;
}

/* recvmsg is recvmmsg's case of one message. */
static ssize_t carry__recv_msgs(struct carry__fd *e, int fd, struct msghdr *first, size_t stride,
                                unsigned n, bool one, carry__recv_fn *real, void *call)
{
    struct carry__dgram_names names;
    carry__dgram_lend(&names, first, stride, n);
    ssize_t rc = real(call);
    int saved_errno = errno;
    unsigned got = rc < 0 ? 0 : one ? 1 : (unsigned)rc;
    carry__dgram_took(&names, e, fd, first, stride, got);
    errno = saved_errno;
    return rc;
}

ssize_t carry__hook_recvmsg(int fd, struct msghdr *msg, int flags, carry__recv_fn *real,
                            void *call)
{
    struct carry__fd *e = carry__dgram_fd(fd);
    if (e == NULL || msg == NULL || carry__hook_recv_peeks(flags)) {
        ssize_t rc = real(call);
        carry__hook_recvmsg_done(fd, flags, rc, msg);
        return rc;
    }
    return carry__recv_msgs(e, fd, msg, sizeof *msg, 1, true, real, call);
}

int carry__hook_recvmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags,
                         carry__recv_fn *real, void *call)
{
    struct carry__fd *e = carry__dgram_fd(fd);
    if (e == NULL || msgs == NULL || carry__hook_recv_peeks(flags))
        return (int)carry__recv_stream(fd, flags, real(call), NULL, 0);
    return (int)carry__recv_msgs(e, fd, &msgs->msg_hdr, sizeof *msgs, n, false, real, call);
}

void carry__hook_send_datagram(int fd, const struct sockaddr *to, socklen_t len)
{
    int saved_errno = errno;
    /* Rule O: a datagram's span ends at its last reply. */
    if (carry__dgram_sending(fd, to, len))
        carry__span_wrote(&carry__current()->trace);
    errno = saved_errno;
}

/* ---- epoll --------------------------------------------------------------- */

void carry__hook_epoll_create(int epfd)
{
    int saved_errno = errno;
    carry__ep_created(epfd);
    errno = saved_errno;
}

int carry__hook_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event, carry__ctl_fn *real)
{
    if (!carry__on(CARRY__RULE_EPOLL))
        return real(epfd, op, fd, event);
    return carry__ep_ctl(epfd, op, fd, event, real);
}

/* A wait after datagrams, before carry started, in a passive program, or
 * with rule E off and a context to end.  Without E the wait is still a
 * dispatch point (rule D): a context the thread inherited (rule T) or
 * entered ends there, though the wait delivers none. */
static __attribute__((noinline)) int carry__epoll_wait_rare(int epfd, struct epoll_event *events,
                                                            int maxevents, int timeout,
                                                            carry__wait_fn *real, uintptr_t depth)
{
    carry__dgram_end();
    /* Not carry__on, which calls out whenever the rule is off: here, at
     * every wait of a passive program. */
    carry__ensure_init();
    if (atomic_load_explicit(&carry__rules, memory_order_acquire) & CARRY__RULE_EPOLL)
        return carry__ep_wait(epfd, events, maxevents, timeout, real, depth);
    carry__dispatch();
    return real(epfd, events, maxevents, timeout);
}

/* Every way out is a tail call: the common wait saves no registers here.
 * Rules are only ever set once carry has started, so a set without E
 * means that a wait with nothing for rule D to do is the real one. */
static __attribute__((noinline)) int carry__epoll_wait_other(int epfd, struct epoll_event *events,
                                                             int maxevents, int timeout,
                                                             carry__wait_fn *real, uintptr_t depth)
{
    if (CARRY__LIKELY(!carry__dgram_pending())) {
        unsigned rules = atomic_load_explicit(&carry__rules, memory_order_acquire);
        if (rules & CARRY__RULE_EPOLL)
            return carry__ep_wait(epfd, events, maxevents, timeout, real, depth);
        if (rules != 0 && carry__dispatch_idle())
            return real(epfd, events, maxevents, timeout);
    }
    return carry__epoll_wait_rare(epfd, events, maxevents, timeout, real, depth);
}

/* A plain wait first (epoll.h), apart from the others, so that asking
 * costs the others a compare or two and no moves of their arguments.  The
 * stack's depth is taken here, where every wait passes at the same depth
 * whatever way it goes on (with or without tail calls). */
int carry__hook_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                           carry__wait_fn *real)
{
    uintptr_t depth = carry__stack_depth();
    if (CARRY__LIKELY(carry__ep_wait_is_plain(epfd)))
        return carry__ep_wait_plain(epfd, events, maxevents, timeout, real, depth);
    return carry__epoll_wait_other(epfd, events, maxevents, timeout, real, depth);
}

/* ---- Event-loop libraries ------------------------------------------------ */

/* Callbacks of a library loop set their contexts precisely, so the epoll
 * layer only translates its tokens meanwhile.  A nested loop's scope
 * keeps the callback's thread reference while the loop runs. */
carry__loop_scope carry__hook_loop_enter(void)
{
    struct carry__thread *self = &carry__self;
    carry__loop_scope scope = {NULL};
    if (self->in_loop > 0) {
        scope.outer = self->current;
        carry__current_set(self, NULL);
    }
    carry__dgram_end();
    carry__dispatch();
    self->in_loop++;
    carry__ep_wait_unplain();
    return scope;
}

void carry__hook_loop_leave(carry__loop_scope scope)
{
    carry__self.in_loop--;
    carry__ep_wait_unplain();
    carry__dispatch();
    carry__current_adopt(scope.outer);
}

/* Records and the contexts they hold are made and let go of with no
 * system call (the pools and the table keep errno when they allocate):
 * these hooks leave errno alone without saving it. */

struct carry__cb *carry__hook_cb_assign(const void *obj, const struct carry__cb *cbs, int fd,
                                        unsigned flags)
{
    if (obj == NULL || cbs->fn == NULL || !carry__on(CARRY__RULE_LOOPS))
        return NULL;
    struct carry__record *r = carry__record_assign(obj, cbs, fd, flags);
    return r != NULL ? &r->cb : NULL;
}

struct carry__cb *carry__hook_cb_start(const void *obj, const struct carry__cb *cbs, int fd,
                                       unsigned flags, const void *caller)
{
    if (obj == NULL || (cbs != NULL && cbs->fn == NULL) || !carry__on(CARRY__RULE_LOOPS))
        return NULL;
    struct carry__record *r = carry__record_start(obj, cbs, fd, flags, caller);
    return r != NULL ? &r->cb : NULL;
}

/* A record exists only once rule L is on: the hooks given one need not
 * ask. */
void carry__hook_cb_capture(struct carry__cb *cb)
{
    carry__record_capture(carry__record_from(cb));
}

void carry__hook_cb_schedule(const void *obj, const void *caller)
{
    struct carry__record *r = obj != NULL ? carry__record_find(obj) : NULL;
    if (r != NULL)
        carry__record_schedule(r, caller);
}

void carry__hook_cb_send(const void *obj)
{
    struct carry__record *r = obj != NULL ? carry__record_find(obj) : NULL;
    if (r != NULL)
        carry__record_send(r);
}

void carry__hook_cb_drop(struct carry__cb *cb)
{
    carry__record_drop(carry__record_from(cb));
}

void carry__hook_cb_stop(const void *obj, unsigned library, const void *caller)
{
    carry__record_stop(obj, library, caller);
}

void carry__hook_cb_forget(const void *obj)
{
    carry__record_forget(obj);
}

void carry__hook_uv_refused(const void *req)
{
    carry__record_forget_request(req);
}

void carry__hook_cb_detach(const void *obj, struct carry__cb *cb)
{
    carry__record_detach(obj, carry__record_from(cb));
}

void carry__hook_cb_release(struct carry__cb *cb)
{
    carry__record_release(carry__record_from(cb));
}

bool carry__hook_cb_closing(const void *obj, void (*close)(void))
{
    if (obj == NULL || !carry__on(CARRY__RULE_LOOPS))
        return false;
    return carry__record_closing(obj, close);
}

bool carry__hook_cb_finalizing(void *const *objs, int n, void (*finalize)(void))
{
    if (finalize == NULL || objs == NULL || n <= 0 || !carry__on(CARRY__RULE_LOOPS))
        return false;
    return carry__record_finalizing(objs, n, finalize);
}

struct carry__cb *carry__hook_cb_once(const struct carry__cb *cbs, int fd, unsigned flags)
{
    if (cbs->fn == NULL || !carry__on(CARRY__RULE_LOOPS))
        return NULL;
    struct carry__record *r = carry__record_once(cbs, fd, flags);
    return r != NULL ? &r->cb : NULL;
}

void carry__hook_cb_once_refused(struct carry__cb *cb)
{
    carry__record_release(carry__record_from(cb));
}

struct carry__cb *carry__hook_cb_find(const void *obj)
{
    return &carry__record_find(obj)->cb;
}

carry__cb_scope carry__hook_cb_enter(struct carry__cb *cb)
{
    return (carry__cb_scope){carry__record_enter(carry__record_from(cb))};
}

carry__cb_scope carry__hook_cb_enter_last(struct carry__cb *cb, struct carry__cb *copy)
{
    return (carry__cb_scope){carry__record_enter_last(carry__record_from(cb), copy)};
}

void carry__hook_cb_leave(carry__cb_scope scope)
{
    carry__record_leave(&scope.prev);
}

void carry__hook_levent_run(int fd, short what, void *p)
{
    struct carry__cb *cb = p;
    carry__levent_cb *fn = (carry__levent_cb *)cb->fn;
    void *arg = cb->arg; /* read first: the callback may free its event */
    carry_ctx *scope_ CARRY__SCOPED(carry__record_leave) =
        carry__record_enter(carry__record_from(cb));
    fn(fd, what, arg);
}

void carry__hook_ev_run(struct ev_loop *loop, void *watcher, int revents)
{
    struct carry__record *r = carry__record_find(watcher);
    carry_ctx *scope_ CARRY__SCOPED(carry__record_leave) = carry__record_enter(r);
    ((carry__ev_cb *)r->cb.fn)(loop, watcher, revents);
}

/* libuv calls a callback from its loop (or from a pool thread), never
 * from inside another: what was current before it is what libuv's own I/O
 * left there (its read that began a request, an accept), which the thread
 * lets go of, prev.  The callback ends in no context, as at a dispatch
 * point, so that libuv's own work before its next callback (its reads of
 * other connections, writes it flushes) runs in none. */
static inline carry_ctx *carry__uv_dispatched(carry_ctx *prev)
{
    if (prev != NULL)
        carry__ctx_unref_local(prev);
    return NULL;
}

/* libuv's trampolines of a record that stays: scope_, the scope enter
 * opens for r, obj's record as find finds it (scope_: a name no callback
 * parameter has). */
#define CARRY__UV_FOUND(name, find, enter, type, field, params, args) \
    void carry__hook_uv_on_##name params \
    { \
        struct carry__record *r = find(obj); \
        carry_ctx *scope_ CARRY__SCOPED(carry__record_leave) = \
            carry__uv_dispatched(enter); \
        ((type *)r->cb.field) args; \
    }

#define CARRY__UV_ON(name, enter, type, field, params, args) \
    CARRY__UV_FOUND(name, carry__record_find, enter, type, field, params, args)

#define CARRY__UV_KEPT(name, type, field, params, args) \
    CARRY__UV_ON(name, carry__record_enter(r), type, field, params, args)

CARRY__UV_KEPT(handle, carry__uv_cb, fn, (void *obj), (obj))
CARRY__UV_FOUND(work, carry__record_of_request, carry__record_enter(r), carry__uv_cb, fn,
                (void *obj), (obj))
CARRY__UV_KEPT(int, carry__uv_int_cb, fn, (void *obj, int status), (obj, status))
CARRY__UV_KEPT(poll, carry__uv_poll_cb, fn, (void *obj, int status, int events),
               (obj, status, events))
CARRY__UV_KEPT(alloc, carry__uv_alloc_cb, alloc, (void *obj, size_t suggested, void *buf),
               (obj, suggested, buf))
CARRY__UV_KEPT(read, carry__uv_read_cb, fn, (void *obj, ssize_t nread, const void *buf),
               (obj, nread, buf))
CARRY__UV_KEPT(fs_event, carry__uv_fs_event_cb, fn,
               (void *obj, const char *filename, int events, int status),
               (obj, filename, events, status))
CARRY__UV_KEPT(fs_poll, carry__uv_fs_poll_cb, fn,
               (void *obj, int status, const void *prev, const void *curr),
               (obj, status, prev, curr))
CARRY__UV_ON(connection, carry__record_enter_accepted(r), carry__uv_int_cb, fn,
             (void *obj, int status), (obj, status))

/* A datagram's context, when libuv received the one it calls back for. */
static carry_ctx *carry__uv_udp_enter(struct carry__record *r, ssize_t nread,
                                      const struct sockaddr *peer)
{
    carry_ctx *ctx = nread >= 0 && peer != NULL ? carry__dgram_next(peer) : NULL;
    return ctx != NULL ? carry__record_enter_in(r, ctx) : carry__record_enter(r);
}

CARRY__UV_ON(udp_recv, carry__uv_udp_enter(r, nread, addr), carry__uv_udp_recv_cb, fn,
             (void *obj, ssize_t nread, const void *buf, const struct sockaddr *addr,
              unsigned flags),
             (obj, nread, buf, addr, flags))

/* libuv's trampolines of a record's last callback: a handle's close
 * callback (its record is in the table), a request's. */
#define CARRY__UV_LAST(name, last, type, field, params, args) \
    void carry__hook_uv_on_##name params \
    { \
        struct carry__cb cb; \
        carry_ctx *scope_ CARRY__SCOPED(carry__record_leave) = \
            carry__uv_dispatched(last(obj, &cb)); \
        if (cb.field != NULL) \
            ((type *)cb.field) args; \
    }

#define CARRY__UV_DONE(name, type, field, params, args) \
    CARRY__UV_LAST(name, carry__record_enter_last_request, type, field, params, args)

CARRY__UV_LAST(closed, carry__record_enter_last_of, carry__uv_cb, close, (void *obj), (obj))
CARRY__UV_DONE(request, carry__uv_cb, fn, (void *obj), (obj))
CARRY__UV_DONE(status, carry__uv_int_cb, fn, (void *obj, int status), (obj, status))
CARRY__UV_DONE(after_work, carry__uv_int_cb, after_work, (void *obj, int status), (obj, status))
CARRY__UV_DONE(addrinfo, carry__uv_addrinfo_cb, fn, (void *obj, int status, struct addrinfo *res),
               (obj, status, res))
CARRY__UV_DONE(nameinfo, carry__uv_nameinfo_cb, fn,
               (void *obj, int status, const char *host, const char *service),
               (obj, status, host, service))
CARRY__UV_DONE(random, carry__uv_random_cb, fn, (void *obj, int status, void *buf, size_t len),
               (obj, status, buf, len))

/* Thread-pool work is queued with no context current, so that the pool's
 * threads, which libuv starts from the first such call, do not inherit
 * the caller's context (rule T) and run libuv's own work in it.  The work
 * itself runs in the context its record captured. */
carry__uv_pool_scope carry__hook_uv_pool_enter(bool async)
{
    if (!async)
        return (carry__uv_pool_scope){NULL, false};
    return (carry__uv_pool_scope){carry__scope_enter(NULL), true};
}

void carry__hook_uv_pool_leave(carry__uv_pool_scope *scope)
{
    if (scope->cleared)
        carry__scope_leave(&scope->prev);
}

/* ---- Lines written ------------------------------------------------------- */

int carry__hook_vfprintf(FILE *fp, int flag, const char *fmt, va_list ap, carry__vfprintf_fn *real)
{
    carry__ensure_init();
    int fd = carry__tag_file(fp);
    if (fd < 0 || fmt == NULL)
        return real(fp, flag, fmt, ap);
    return carry__tag_vfprintf(fp, fd, flag, fmt, ap, real);
}

int carry__hook_vdprintf(int fd, int flag, const char *fmt, va_list ap, carry__vdprintf_fn *real,
                         carry__writev_fn *real_writev)
{
    carry__ensure_init();
    if (!carry__tag_fd(fd) || fmt == NULL)
        return real(fd, flag, fmt, ap);
    return carry__tag_vdprintf(fd, flag, fmt, ap, real, real_writev);
}

bool carry__hook_put(FILE *fp, const struct iovec *bytes, int cnt, carry__put_fn *real, void *call,
                     size_t *done)
{
    carry__ensure_init();
    int fd = carry__tag_file(fp);
    if (fd < 0) {
        real(call);
        return false;
    }
    return carry__tag_fput(fp, fd, bytes, cnt, real, call, done);
}

void carry__hook_perror(const char *s, void (*real)(const char *s))
{
    carry__ensure_init();
    int fd = carry__tag_file(stderr);
    if (fd < 0)
        real(s);
    else
        carry__tag_perror(stderr, fd, s, real);
}

void carry__hook_vsyslog(int pri, int flag, const char *fmt, va_list ap, carry__vsyslog_fn *real)
{
    carry__ensure_init();
    if (!carry__tag_syslog() || fmt == NULL)
        real(pri, flag, fmt, ap);
    else
        carry__tag_vsyslog(pri, flag, fmt, ap, real);
}

/* ---- Condition variables ------------------------------------------------ */

/* Neither records nor contexts make a system call: errno stays as it
 * is.  A wait that did not return 0 (ETIMEDOUT above all) was woken by no
 * signal, and takes nothing.  Uninstrumented up to the rule's check:
 * threads a program starts with the real pthread_create (jemalloc's
 * background threads) are unknown to TSan's runtime, and its function
 * entry crashes on them; they reach the module only with dataflow on. */
#define CARRY__COND_HOOK __attribute__((no_sanitize("thread")))

/* carry__on(CARRY__RULE_DATAFLOW), which TSan's build would not inline
 * here. */
static inline CARRY__COND_HOOK bool carry__dataflow_on(void)
{
    if (CARRY__UNLIKELY(!atomic_load_explicit(&carry__initialised, memory_order_acquire)))
        carry__init();
    return carry__config.active && (carry__config.mode & CARRY__RULE_DATAFLOW) != 0;
}

CARRY__COND_HOOK void carry__hook_cond_signal(const void *cond, bool broadcast)
{
    if (carry__dataflow_on())
        carry__cv_signal(cond, broadcast);
}

CARRY__COND_HOOK uint64_t carry__hook_cond_wait(const void *cond)
{
    return carry__dataflow_on() ? carry__cv_waiting(cond) : 0;
}

CARRY__COND_HOOK void carry__hook_cond_woken(const void *cond, uint64_t seen, int rc)
{
    if (rc == 0 && carry__dataflow_on())
        carry__cv_woken(cond, seen);
}

/* ---- Fatal signals ------------------------------------------------------- */

/* Uninstrumented, like the wrapper and what it calls: see sigdisp.c. */
__attribute__((no_sanitize("thread"))) int
carry__hook_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return carry__sigdisp_sigaction(sig, act, old);
}

carry__sighandler *carry__hook_signal(int sig, carry__sighandler *handler, carry__signal_fn *real)
{
    return carry__sigdisp_signal(sig, handler, real);
}

carry__sighandler *carry__hook_sysv_signal(int sig, carry__sighandler *handler,
                                           carry__signal_fn *real)
{
    return carry__sigdisp_sysv_signal(sig, handler, real);
}
