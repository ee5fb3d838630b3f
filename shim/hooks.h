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

/* dup2/dup3(oldfd, newfd) is about to run: newfd's state ends first. */
void carry__hook_dup_before(int oldfd, int newfd);

/* A dup of oldfd (dup, dup2, dup3) returned rc; fcntl(fd, cmd) returned
 * rc. */
void carry__hook_dup(int oldfd, int rc);
void carry__hook_fcntl(int fd, int cmd, int rc);

/* syscall(number, a, b, c, ...) is about to run: the fd-closing numbers
 * matter (libuv closes every fd with syscall(SYS_close)). */
void carry__hook_syscall(long number, long a, long b, long c);

/* ---- Reads and writes ---------------------------------------------------- */

/* Every read and write on an fd passes here first; the fast path is the
 * two loads of watch.h. */
void carry__hook_batch_io(int fd);
void carry__hook_read_slow(int fd);
bool carry__hook_write_slow(int fd, bool taggable, unsigned watch);

/* A read on fd is about to run. */
static inline void carry__hook_read(int fd)
{
    if (CARRY__UNLIKELY(carry__io_batch != 0))
        carry__hook_batch_io(fd);
    if (CARRY__UNLIKELY(atomic_load_explicit(&carry__io_watch, memory_order_relaxed) &
                        CARRY__WATCH_STATS))
        carry__hook_read_slow(fd);
}

/* A write on fd is about to run; true when its lines are to be tagged
 * (only asked with taggable: write, writev), through
 * carry__hook_write_tagged. */
static inline bool carry__hook_write(int fd, bool taggable)
{
    if (CARRY__UNLIKELY(carry__io_batch != 0))
        carry__hook_batch_io(fd);
    unsigned watch = atomic_load_explicit(&carry__io_watch, memory_order_relaxed);
    return CARRY__UNLIKELY(watch != 0) && carry__hook_write_slow(fd, taggable, watch);
}

/* The program's write or writev (src, cnt) to fd, tagged; plain is the
 * program's own call. */
ssize_t carry__hook_write_tagged(int fd, const struct iovec *src, int cnt,
                                 carry__writev_fn *real_writev, carry__writev_fn *plain);

/* ---- epoll (rules D and E) ----------------------------------------------- */

void carry__hook_epoll_create(int epfd);

int carry__hook_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event, carry__ctl_fn *real);

/* forever tells whether the caller's timeout is infinite. */
int carry__hook_epoll_wait(int epfd, struct epoll_event *events, int maxevents,
                           carry__wait_fn *real, void *call, bool forever);

/* ---- Event-loop libraries (rule L) --------------------------------------- */

/* A library's loop runs on this thread (rule D at both ends). */
void carry__hook_loop_enter(void);
void carry__hook_loop_leave(void);

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

/* ---- Fatal signals (CARRY_CRASH) ----------------------------------------- */

#endif /* CARRY_HOOKS_H */
