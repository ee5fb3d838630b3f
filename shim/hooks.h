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

#include "common.h"

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

/* The real accept or accept4, with its other arguments bound in call. */
typedef int carry__accept_fn(void *call, struct sockaddr *addr, socklen_t *len);

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

/*
 * Every read and write on an fd passes here first.  The fast path is two
 * loads: a thread-local word, set while an epoll batch (CARRY_EPOLL=batch)
 * waits for its events' first I/O (epoll.c), and a process-wide word of
 * the reasons every I/O matters (hooks.c).
 */
enum {
    CARRY__WATCH_START = 1u << 0,    /* carry has not started: a write starts it */
    CARRY__WATCH_STATS = 1u << 1,    /* CARRY_STATS counts mismatches */
    CARRY__WATCH_BORROWED = 1u << 2, /* an fd was connected: writes move it */
    CARRY__WATCH_TAG = 1u << 3,      /* CARRY_TAG tags stdout or stderr */
};

extern __thread uint64_t carry__io_batch __attribute__((tls_model("initial-exec")));
extern _Atomic unsigned carry__io_watch;

void carry__hook_read_slow(int fd);
bool carry__hook_write_slow(int fd, bool taggable);

/* A read on fd is about to run. */
static inline void carry__hook_read(int fd)
{
    if (CARRY__UNLIKELY(carry__io_batch != 0 ||
                        (atomic_load_explicit(&carry__io_watch, memory_order_relaxed) &
                         CARRY__WATCH_STATS)))
        carry__hook_read_slow(fd);
}

/* A write on fd is about to run; true when its lines are to be tagged
 * (only asked with taggable: write, writev), through carry__hook_write_tagged. */
static inline bool carry__hook_write(int fd, bool taggable)
{
    if (CARRY__LIKELY(carry__io_batch == 0 &&
                      atomic_load_explicit(&carry__io_watch, memory_order_relaxed) == 0))
        return false;
    return carry__hook_write_slow(fd, taggable);
}

/* The real writev, and the program's own call on the same arguments
 * (write or writev). */
typedef ssize_t carry__writev_fn(int fd, const struct iovec *iov, int cnt);

/* The program's write or writev (src, cnt) to fd, tagged. */
ssize_t carry__hook_write_tagged(int fd, const struct iovec *src, int cnt,
                                 carry__writev_fn *real_writev, carry__writev_fn *plain);

/* ---- epoll (rules D and E) ----------------------------------------------- */

void carry__hook_epoll_create(int epfd);

typedef int carry__ctl_fn(int epfd, int op, int fd, struct epoll_event *event);
int carry__hook_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event, carry__ctl_fn *real);

/* The real epoll_wait, epoll_pwait or epoll_pwait2, with the caller's
 * timeout and signal mask bound in call; forever tells whether the
 * timeout is infinite. */
typedef int carry__wait_fn(void *call, struct epoll_event *events, int maxevents);
int carry__hook_epoll_wait(int epfd, struct epoll_event *events, int maxevents,
                           carry__wait_fn *real, void *call, bool forever);

/* ---- Event-loop libraries (rule L) --------------------------------------- */

/* A library's loop runs on this thread (rule D at both ends). */
void carry__hook_loop_enter(void);
void carry__hook_loop_leave(void);

/* ---- Lines written (CARRY_TAG) ------------------------------------------- */

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
typedef void carry__sighandler(int sig); /* what __sighandler_t points to */
typedef carry__sighandler *carry__signal_fn(int sig, carry__sighandler *handler);

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
