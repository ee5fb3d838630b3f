/*
 * The boundary between the wrappers (interpose/, mechanism) and the core
 * (shim/, policy).  This is the only core header a file in interpose/
 * includes.  It declares one entry point per event the core cares about,
 * and the few inline fast paths those need; what to capture and when to
 * switch is decided behind them (hooks.c and the modules it calls).
 *
 * Every entry point starts carry if need be, leaves errno as the program
 * left it (unless it returns the program's own result), and degrades to
 * doing nothing when a rule is off or carry is out of memory.
 */
#ifndef CARRY_HOOKS_H
#define CARRY_HOOKS_H

#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "calls.h"
#include "common.h"
#include "watch.h"

/* ---- Diagnostics -------------------------------------------------------- */

/* "carry: <message>" on stderr, one raw write (log.c). */
void carry__warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Threads (rule T) ---------------------------------------------------- */

/* pthread_create is about to start fn(arg).  When the new thread should
 * start in the current context, replaces *fn and *arg with a trampoline
 * and returns true; the wrapper passes them to the real pthread_create and
 * calls carry__hook_thread_failed(*arg) if that fails. */
bool carry__hook_thread_create(void *(**fn)(void *), void **arg);
void carry__hook_thread_failed(void *arg);

/* The real pthread_create, handed over once (interpose/pthread.c's
 * constructor), for the core's own thread: the span exporter (rule O). */
void carry__hook_thread_real(carry__thread_create_fn *real);

/* ---- Processes (rule F) -------------------------------------------------- */

/* CARRY_INHERIT=0: does an exec with an explicit environment need it
 * filtered?  Then carry__hook_exec_env fills out (room for n_out pointers;
 * carry__hook_exec_env_count(envp) + 1 is enough) with envp minus libcarry,
 * using buf for the new LD_PRELOAD, and returns it.  Allocates nothing:
 * safe in a vfork child. */
bool carry__hook_exec_strip(void);
size_t carry__hook_exec_env_count(char *const *envp);
char *const *carry__hook_exec_env(char *const *envp, char **out, size_t n_out, char *buf,
                                  size_t buf_size);

/* ---- Descriptors (rule C) ------------------------------------------------ */

/* accept/accept4 on listen_fd: returns what the real call returns, with the
 * peer address given back as it would have been. */
int carry__hook_accept(int listen_fd, struct sockaddr *addr, socklen_t *len,
                       carry__accept_fn *real, void *call);

/* connect(fd) returned rc (errno as it set it). */
void carry__hook_connect(int fd, int rc);

/* fd, or every fd in [first, last], is about to be closed. */
void carry__hook_close(int fd);
void carry__hook_close_range(unsigned first, unsigned last, int flags);

/* fp's fd is about to be closed inside libc (fclose, freopen), whose own
 * close carry does not see. */
void carry__hook_stream_close(FILE *fp);

/* A dup of oldfd (dup, dup2, dup3) returned rc: the state rc had ends
 * (dup2 and dup3 replace an open newfd; only once they have succeeded,
 * since a failed one leaves newfd as it was), and rc takes oldfd's.
 * fcntl(fd, cmd) returned rc: the same for F_DUPFD*. */
void carry__hook_dup(int oldfd, int rc);
void carry__hook_fcntl(int fd, int cmd, int rc);

/* syscall(number, a, b, c, ...) is about to run: the fd-closing numbers
 * matter (libuv closes every fd with syscall(SYS_close)). */
void carry__hook_syscall(long number, long a, long b, long c);

/* ---- Reads and writes ---------------------------------------------------- */

/*
 * The common write: most writes need no more than their turn (rule R)
 * recorded, so write, writev, send and sendmsg hand their call to an
 * entry point of their own shape, which records it and makes the real
 * call (real) as its last act: neither the wrapper nor the entry point
 * keeps a frame (write on a hand-off channel's end keeps the channel's
 * record there too; a write in an epoll batch makes its switch first).
 * Any other write (carry starting, CARRY_STATS, a connected fd, a
 * datagram socket, tags, the other calls on a channel, a span to end),
 * and any write before the real function is bound (real NULL), is made by
 * full instead: the wrapper's own path, on the same arguments.
 */
ssize_t carry__hook_write_call(int fd, const void *buf, size_t n, carry__write_fn *real,
                               carry__write_fn *full);
ssize_t carry__hook_writev_call(int fd, const struct iovec *iov, int cnt, carry__writev_fn *real,
                                carry__writev_fn *full);
ssize_t carry__hook_send_call(int fd, const void *buf, size_t n, int flags, carry__send_fn *real,
                              carry__send_fn *full);
ssize_t carry__hook_sendmsg_call(int fd, const struct msghdr *msg, int flags,
                                 carry__sendmsg_fn *real, carry__sendmsg_fn *full);

/*
 * The common read: read, readv and recv hand their call to an entry point
 * of their own shape, which makes the real call (real) and gives the core
 * its result (rule R's turn, a hand-off channel's record, the end of an
 * injected response) in one frame; on an fd none of those concern, the
 * real call is its last act (a read in an epoll batch, or after a
 * hand-off of several contexts, makes its switch first).  Any other read
 * (CARRY_STATS, a datagram socket's, the real function not bound yet:
 * real NULL) is made by full, the wrapper's own path, on the same
 * arguments.
 */
ssize_t carry__hook_read_call(int fd, void *buf, size_t n, carry__read_fn *real,
                              carry__read_fn *full);
ssize_t carry__hook_readv_call(int fd, const struct iovec *iov, int cnt, carry__readv_fn *real,
                               carry__readv_fn *full);
ssize_t carry__hook_recv_call(int fd, void *buf, size_t n, int flags, carry__recv_into_fn *real,
                              carry__recv_into_fn *full);

/* Every other read and write on an fd passes here first; the fast path is
 * the two loads of watch.h. */
void carry__hook_batch_io(int fd, bool write);
void carry__hook_read_slow(int fd);
void carry__hook_read_done_slow(int fd, ssize_t rc, const void *bytes, size_t cap);
unsigned carry__hook_write_slow(int fd, bool taggable, unsigned watch);

/* A call about fd that is no read or write (getpeername, getsockname) is
 * about to run: in a batch, it switches as I/O does. */
static inline void carry__hook_fd_use(int fd)
{
    if (CARRY__UNLIKELY(carry__io_batch != 0))
        carry__hook_batch_io(fd, false);
}

/* A read on fd is about to run. */
static inline void carry__hook_read(int fd)
{
    if (CARRY__UNLIKELY(carry__io_batch != 0))
        carry__hook_batch_io(fd, false);
    if (CARRY__UNLIKELY(atomic_load_explicit(&carry__io_watch, memory_order_relaxed) &
                        CARRY__WATCH_STATS))
        carry__hook_read_slow(fd);
}

/* A read on fd returned rc (errno as it set it) into bytes first, a
 * buffer of cap bytes (NULL if none): once a connection was accepted, it
 * may begin a request (rule R), whose HTTP head is looked for there; once
 * a stream was connected with CARRY_TRACE=inject, it may end a response
 * (rule W); one load until then.  With rc 0, cap is how many bytes the
 * read asked for: only a read that asked for some and got none saw the
 * end of the stream. */
static inline void carry__hook_read_done(int fd, ssize_t rc, const void *bytes, size_t cap)
{
    if (CARRY__UNLIKELY(atomic_load_explicit(&carry__io_watch, memory_order_relaxed) &
                        (CARRY__WATCH_REQUESTS | CARRY__WATCH_CHANNELS | CARRY__WATCH_INJECT)))
        carry__hook_read_done_slow(fd, rc, bytes, cap);
}

/* The bytes of cnt buffers (a write's size before it is made, what a
 * read asked for). */
static inline size_t carry__hook_iov_bytes(const struct iovec *iov, size_t cnt)
{
    size_t n = 0;
    for (size_t i = 0; iov != NULL && i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* The cap carry__hook_read_done takes for a read into cnt buffers that
 * returned rc: the first buffer's size when it read bytes, what they all
 * asked for when it returned 0.  The buffers of a failed read may be bad
 * pointers; those of a read that returned 0 were read by the kernel. */
static inline size_t carry__hook_readv_cap(ssize_t rc, const struct iovec *iov, size_t cnt)
{
    return rc > 0 && cnt > 0 ? iov[0].iov_len : rc == 0 ? carry__hook_iov_bytes(iov, cnt) : 0;
}

/* The same for a read into cnt buffers. */
static inline void carry__hook_readv_done(int fd, ssize_t rc, const struct iovec *iov, size_t cnt)
{
    carry__hook_read_done(fd, rc, rc > 0 && cnt > 0 ? iov[0].iov_base : NULL,
                          carry__hook_readv_cap(rc, iov, cnt));
}

/* Does a receive with flags take no bytes from the stream?  A peek
 * (MSG_PEEK) leaves them for the read that follows, and the error queue
 * (MSG_ERRQUEUE) is no part of the stream: such a receive begins, ends and
 * hands over nothing (rules R, H, W), so its result is not the core's. */
static inline bool carry__hook_recv_peeks(int flags)
{
    return flags & (MSG_PEEK | MSG_ERRQUEUE);
}

/* carry__hook_read_done and carry__hook_readv_done for a receive with
 * flags (recvmsg's buffers: msg's). */
static inline void carry__hook_recv_read_done(int fd, int flags, ssize_t rc, const void *bytes,
                                              size_t cap)
{
    if (!carry__hook_recv_peeks(flags))
        carry__hook_read_done(fd, rc, bytes, cap);
}

static inline void carry__hook_recvmsg_done(int fd, int flags, ssize_t rc, const struct msghdr *msg)
{
    bool filled = rc >= 0 && msg != NULL;
    if (!carry__hook_recv_peeks(flags))
        carry__hook_readv_done(fd, rc, filled ? msg->msg_iov : NULL, filled ? msg->msg_iovlen : 0);
}

/* What a write needs beyond the real call: its lines tagged (only asked
 * with taggable: write, writev), through carry__hook_write_tagged; on a
 * hand-off channel's end (rule H), a record made before and corrected
 * after (carry__hook_channel_write, carry__hook_channel_wrote); on an
 * outgoing connection with CARRY_TRACE=inject, where it may begin an
 * HTTP request (rule W), carry__hook_write_inject. */
enum {
    CARRY__WRITE_TAGGED = 1u << 0,
    CARRY__WRITE_CHANNEL = 1u << 1,
    CARRY__WRITE_INJECT = 1u << 2,
};

/* A write on fd is about to run: what it needs (0: nothing). */
static inline unsigned carry__hook_write(int fd, bool taggable)
{
    if (CARRY__UNLIKELY(carry__io_batch != 0))
        carry__hook_batch_io(fd, true);
    unsigned watch = atomic_load_explicit(&carry__io_watch, memory_order_relaxed);
    return CARRY__UNLIKELY(watch != 0) ? carry__hook_write_slow(fd, taggable, watch) : 0;
}

/* A write of n bytes (buf: the first of them, or NULL) on a channel end
 * is about to run: its record, which carry__hook_channel_wrote takes with
 * what the write returned. */
uint64_t carry__hook_channel_write(int fd, const void *buf, size_t n);
void carry__hook_channel_wrote(int fd, uint64_t record, size_t n, ssize_t rc);

/* ---- Channels (rule H) --------------------------------------------------- */

/* pipe or pipe2 (flags), eventfd (flags; fds[1] < 0) or socketpair
 * (domain, type) made fds (rc: the call's result); caller: the wrapper's
 * return address (__builtin_return_address(0)), which tells libuv's own
 * fds, which are no channels, from the program's. */
void carry__hook_pipe(int rc, const int fds[2], const void *caller);
void carry__hook_eventfd(int rc, int flags, const void *caller);
void carry__hook_socketpair(int rc, int domain, int type, const int fds[2], const void *caller);

/* The program's write or writev (src, cnt) to fd, tagged; plain is the
 * program's own call. */
ssize_t carry__hook_write_tagged(int fd, const struct iovec *src, int cnt,
                                 carry__writev_fn *real_writev, carry__writev_fn *plain);

/* The program's write, writev or send of src (cnt buffers) to fd, which
 * carry__hook_write found may carry a traceparent (CARRY__WRITE_INJECT):
 * made through out(call, ...), with carry's bytes among the program's
 * when the bytes begin an HTTP/1.x request head (addable: the call's
 * flags and ancillary data let carry add bytes to it, as
 * carry__hook_send_addable tells).  Returns what the program's call
 * returns for its own bytes. */
ssize_t carry__hook_write_inject(int fd, const struct iovec *src, int cnt, bool addable,
                                 carry__sendv_fn *out, const void *call);

/* May carry add bytes to a send with flags (and msg's ancillary data)?
 * Not to urgent data, zero-copy sends (whose buffers the kernel reads
 * after the call returns), or a message that passes descriptors. */
static inline bool carry__hook_send_addable(int flags, const struct msghdr *msg)
{
    return !(flags & ~(MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE)) &&
           (msg == NULL || msg->msg_controllen == 0);
}

/* ---- Datagrams (rule R) ------------------------------------------------- */

/* socket(domain, type) returned fd. */
void carry__hook_socket(int fd, int domain, int type);

/* Has the process made a datagram socket?  Until then, one load: every
 * receive is a read above, every send a write.  After, the receives go
 * through the entry points below, which call carry__hook_read_done for
 * whatever is not an unconnected datagram socket, and sends tell
 * carry__hook_send_datagram their destination. */
static inline bool carry__hook_datagrams(void)
{
    return CARRY__UNLIKELY(atomic_load_explicit(&carry__io_watch, memory_order_relaxed) &
                           CARRY__WATCH_DATAGRAMS);
}

/* read, readv or recv (with flags) on fd returned rc: returns rc. */
ssize_t carry__hook_recv_done(int fd, int flags, ssize_t rc, const void *bytes, size_t cap);

/* recvfrom, recvmsg and recvmmsg, made by the core through real: each
 * returns what the real call returns, and the program sees its own
 * arguments as the real call would have left them. */
ssize_t carry__hook_recvfrom(int fd, int flags, struct sockaddr *addr, socklen_t *len,
                             carry__recvfrom_fn *real, void *call, const void *bytes, size_t cap);
ssize_t carry__hook_recvmsg(int fd, struct msghdr *msg, int flags, carry__recv_fn *real,
                            void *call);
int carry__hook_recvmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags,
                         carry__recv_fn *real, void *call);

/* A send on fd to to (NULL: its connected peer) is about to run. */
void carry__hook_send_datagram(int fd, const struct sockaddr *to, socklen_t len);

/* The same for sendmsg's msg, or sendmmsg's first message (the one whose
 * context the call runs in); msg may be NULL. */
static inline void carry__hook_send_msg(int fd, const struct msghdr *msg)
{
    if (msg != NULL)
        carry__hook_send_datagram(fd, (const struct sockaddr *)msg->msg_name, msg->msg_namelen);
}

/* ---- epoll (rules D and E) ----------------------------------------------- */

void carry__hook_epoll_create(int epfd);

int carry__hook_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event, carry__ctl_fn *real);

/* timeout < 0: the caller waits for ever. */
int carry__hook_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                           carry__wait_fn *real);

/* ---- Event-loop libraries (rule L) --------------------------------------- */

/* A library's loop runs on this thread (rule D at both ends), from
 * carry__hook_loop_enter to carry__hook_loop_leave, given what enter
 * returned.  A loop run from inside a callback of a library loop is
 * nested in that callback, which is still at work: the callback's context
 * is put aside for the nested loop and given back when it returns. */
typedef struct carry__loop_scope {
    carry_ctx *outer; /* the core's */
} carry__loop_scope;

carry__loop_scope carry__hook_loop_enter(void);
void carry__hook_loop_leave(carry__loop_scope scope);

/*
 * The wrappers of libevent 2.1, libev 4 and libuv 1.x hand the library a
 * trampoline of each callback's type in place of the application's
 * callback.  The core keeps a record per library object (an event, a
 * watcher, a handle, a request; obj below is its address): the
 * application's callbacks, and the context the object's work was
 * scheduled in.  A trampoline finds the callbacks there and runs them in
 * the scope the core opens (carry__hook_cb_enter*) and closes
 * (carry__hook_cb_leave).
 *
 * The application's callbacks (struct carry__cb, a record's first member)
 * and the flags a wrapper gives with them are declared in calls.h.
 */

/* obj is given callbacks (event_assign, a deferred callback's init,
 * uv_async_init): its record holds copies of cbs, and nothing captured.
 * Returns the record, which libevent may be given as the trampoline's
 * argument, or NULL when carry leaves obj alone (rule L is off, the
 * callback is one of libuv's own, out of memory): the library then gets
 * the application's own callback and argument.  fd: the fd obj watches,
 * or -1. */
struct carry__cb *carry__hook_cb_assign(const void *obj, const struct carry__cb *cbs, int fd,
                                        unsigned flags);

/* obj is started or re-armed (ev_*_start, ev_timer_again, uv_*_start, a
 * libuv request): as assign, then the context is captured.  cbs NULL:
 * the record keeps the callbacks it has (the library re-arms an object
 * whose callback is the trampoline already).  caller: the wrapper's
 * return address (__builtin_return_address(0)), which tells the library
 * re-arming its own objects from the application scheduling. */
struct carry__cb *carry__hook_cb_start(const void *obj, const struct carry__cb *cbs, int fd,
                                       unsigned flags, const void *caller);

/* The work of cb's object, or of obj if carry holds a record for it, is
 * scheduled (event_add, event_active; a deferred callback scheduled,
 * uv_timer_again; caller as above). */
void carry__hook_cb_capture(struct carry__cb *cb);
void carry__hook_cb_schedule(const void *obj, const void *caller);

/* An async obj is sent (uv_async_send, ev_async_send): the library runs
 * its callback once for the sends made before it runs. */
void carry__hook_cb_send(const void *obj);

/* The work of cb's object is unscheduled (event_del). */
void carry__hook_cb_drop(struct carry__cb *cb);

/* obj is stopped (ev_*_stop, uv_*_stop and uv_read_stop; library:
 * CARRY__CB_LIBEV or _LIBUV; caller as above, which tells the library
 * stopping a watcher it is about to run from the application stopping
 * it). */
void carry__hook_cb_stop(const void *obj, unsigned library, const void *caller);

/* obj is gone for the library (freed, or the call that was to schedule it
 * failed): its record goes. */
void carry__hook_cb_forget(const void *obj);

/* The same for a libuv request that libuv refused: its callback never
 * runs. */
void carry__hook_uv_refused(const void *req);

/* obj, whose record is cb, is about to be freed: cb leaves the table
 * first, so that an object another thread makes at obj's address once it
 * is freed gets a record of its own, and stays for obj's callbacks until
 * carry__hook_cb_release(cb), once the library has let go of obj. */
void carry__hook_cb_detach(const void *obj, struct carry__cb *cb);
void carry__hook_cb_release(struct carry__cb *cb);

/* libuv is to close obj, then call close (may be NULL): true when close's
 * trampoline is to run it (from the record, in the context current now). */
bool carry__hook_cb_closing(const void *obj, void (*close)(void));

/* libevent is to run finalize on one of objs[0..n): true when each
 * record now holds it (the finalizer's trampoline forgets the record). */
bool carry__hook_cb_finalizing(void *const *objs, int n, void (*finalize)(void));

/* A one-shot callback on no object the application sees (event_base_once,
 * ev_once): a record of its own, captured, to give the library as the
 * trampoline's argument; or NULL.  If the library refuses it,
 * carry__hook_cb_once_refused. */
struct carry__cb *carry__hook_cb_once(const struct carry__cb *cbs, int fd, unsigned flags);
void carry__hook_cb_once_refused(struct carry__cb *cb);

/* obj's record, which a trampoline installed for obj knows exists. */
struct carry__cb *carry__hook_cb_find(const void *obj);

/* The scope a callback runs in.  Declare it with CARRY__CB_SCOPE, so that
 * its end (carry__hook_cb_leave) runs on cancellation and unwinding too. */
typedef struct carry__cb_scope {
    carry_ctx *prev; /* the core's */
} carry__cb_scope;

/* A callback of cb's object runs now; its record stays. */
carry__cb_scope carry__hook_cb_enter(struct carry__cb *cb);

/* The last callback of cb's record runs now (a one-shot's): the record
 * goes first, its callbacks copied to *copy. */
carry__cb_scope carry__hook_cb_enter_last(struct carry__cb *cb, struct carry__cb *copy);

void carry__hook_cb_leave(carry__cb_scope scope);

/*
 * The trampolines: a library calls these in the application's place, and
 * they run its callback in the scope of its record, all in one frame.  A
 * libevent event's (its argument: the record's cb) and a libev watcher's;
 * libuv's, one per callback type, found by the handle or request libuv
 * hands them first: a handle's callbacks and uv_queue_work's work (the
 * record stays: _handle, _int, _poll, _alloc, _read, _fs_event,
 * _fs_poll; _work), a listener's (_connection: libuv has just accepted, and the
 * new connection's context is current), a udp handle's receive callback
 * (_udp_recv: a datagram's callback runs in that datagram's context), and
 * the last callback of a record (a request's, uv_queue_work's after-work
 * callback, uv_close's: the record goes first, since the callback may
 * free or reuse its object; the last two may be NULL).
 */
void carry__hook_levent_run(int fd, short what, void *cb);
void carry__hook_ev_run(struct ev_loop *loop, void *watcher, int revents);
void carry__hook_uv_on_handle(void *obj);
void carry__hook_uv_on_work(void *obj);
void carry__hook_uv_on_int(void *obj, int status);
void carry__hook_uv_on_poll(void *obj, int status, int events);
void carry__hook_uv_on_alloc(void *obj, size_t suggested, void *buf);
void carry__hook_uv_on_read(void *obj, ssize_t nread, const void *buf);
void carry__hook_uv_on_fs_event(void *obj, const char *filename, int events, int status);
void carry__hook_uv_on_fs_poll(void *obj, int status, const void *prev, const void *curr);
void carry__hook_uv_on_connection(void *obj, int status);
void carry__hook_uv_on_udp_recv(void *obj, ssize_t nread, const void *buf,
                                const struct sockaddr *addr, unsigned flags);
void carry__hook_uv_on_request(void *obj);
void carry__hook_uv_on_status(void *obj, int status);
void carry__hook_uv_on_after_work(void *obj, int status);
void carry__hook_uv_on_closed(void *obj);
void carry__hook_uv_on_addrinfo(void *obj, int status, struct addrinfo *res);
void carry__hook_uv_on_nameinfo(void *obj, int status, const char *host, const char *service);
void carry__hook_uv_on_random(void *obj, int status, void *buf, size_t len);

static inline void carry__cb_scope_end(carry__cb_scope *scope)
{
    carry__hook_cb_leave(*scope);
}

#define CARRY__CB_SCOPE(enter) \
    carry__cb_scope carry__cb_scope_ CARRY__SCOPED(carry__cb_scope_end) = (enter)

/* A call that may queue work to libuv's thread pool (async: it has a
 * callback; without one libuv runs the work at once, in the caller's
 * context), from CARRY__UV_POOL_SCOPE to the end of the wrapper. */
typedef struct carry__uv_pool_scope {
    carry_ctx *prev; /* the core's */
    bool cleared;
} carry__uv_pool_scope;

carry__uv_pool_scope carry__hook_uv_pool_enter(bool async);
void carry__hook_uv_pool_leave(carry__uv_pool_scope *scope);

#define CARRY__UV_POOL_SCOPE(async) \
    carry__uv_pool_scope carry__uv_pool_scope_ \
        CARRY__SCOPED(carry__hook_uv_pool_leave) = carry__hook_uv_pool_enter(async)

/* ---- Lines written (CARRY_TAG) ------------------------------------------- */

/*
 * stdio, dprintf and syslog (write and writev: see Reads and writes).
 * Each wrapper asks carry__hook_lines first: while its output is not
 * tagged, that is one load and one predictable branch before the real
 * function.  Otherwise it hands its call to an entry point below, which
 * makes the real call itself whenever the line is not carry's to tag
 * (another stream, no context, no memory): results and errno are the
 * program's, and %m reads errno as the program left it.
 *
 * flag is the level of a fortified (_chk) function, -1 for the plain one.
 */

/* Does a line written to where (CARRY__LINES_STD or _SYSLOG) go through
 * the entry point? */
static inline bool carry__hook_lines(unsigned where)
{
    return CARRY__UNLIKELY(atomic_load_explicit(&carry__lines_watch, memory_order_relaxed) &
                           (where | CARRY__LINES_START));
}

/* printf to a stream: returns what vfprintf returns. */
int carry__hook_vfprintf(FILE *fp, int flag, const char *fmt, va_list ap, carry__vfprintf_fn *real);

/* dprintf: returns what vdprintf returns; a tagged line goes out through
 * real_writev. */
int carry__hook_vdprintf(int fd, int flag, const char *fmt, va_list ap, carry__vdprintf_fn *real,
                         carry__writev_fn *real_writev);

/* A writer of plain bytes puts the program's bytes (cnt buffers) to fp.
 * False: the core made the real call.  True: the core wrote the bytes
 * itself, tagged, *done of them (fewer than all after an error, errno says
 * which), and the wrapper returns what its function returns for that. */
bool carry__hook_put(FILE *fp, const struct iovec *bytes, int cnt, carry__put_fn *real, void *call,
                     size_t *done);

void carry__hook_perror(const char *s, void (*real)(const char *s));

void carry__hook_vsyslog(int pri, int flag, const char *fmt, va_list ap, carry__vsyslog_fn *real);

/* ---- Condition variables (rule H, dataflow) ------------------------------ */

/* pthread_cond_signal (broadcast false) or _broadcast on cond is about to
 * run. */
void carry__hook_cond_signal(const void *cond, bool broadcast);

/* A wait on cond (pthread_cond_wait, _timedwait, _clockwait) is about to
 * begin; once it has returned rc, the wrapper gives carry__hook_cond_woken
 * what this returned. */
uint64_t carry__hook_cond_wait(const void *cond);
void carry__hook_cond_woken(const void *cond, uint64_t seen, int rc);

/* ---- Fatal signals (CARRY_CRASH) ----------------------------------------- */

/*
 * sigaction, signal and sysv_signal (sigdisp.c).  With crash reports on,
 * carry's handler stays installed for the fatal signals, and the program's
 * disposition of one is kept beside it, given back as the program's own and
 * run after the report; every other call goes to the next definition, as
 * does every call before libcarry's constructor has started crash reports
 * (so these need not start carry).
 */
struct sigaction;

/* Finds the next sigaction itself and runs no code TSan instruments before
 * crash reports have started: the wrapper passes no real function and
 * should be left uninstrumented too (see sigdisp.c). */
int carry__hook_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* real: the next signal (also for bsd_signal, the same function). */
carry__sighandler *carry__hook_signal(int sig, carry__sighandler *handler, carry__signal_fn *real);

/* real: the next sysv_signal or __sysv_signal; NULL when there is none,
 * then the call fails with ENOSYS. */
carry__sighandler *carry__hook_sysv_signal(int sig, carry__sighandler *handler,
                                           carry__signal_fn *real);

#endif /* CARRY_HOOKS_H */
