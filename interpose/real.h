/*
 * The next definitions of the functions libcarry wraps, in one table bound
 * lazily by dlsym(RTLD_NEXT) or, for versioned symbols, dlvsym.  A wrapper
 * calls CARRY__REAL(name)(args...).
 */
#ifndef CARRY_REAL_H
#define CARRY_REAL_H

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <threads.h>
#include <time.h>

#include "../shim/hooks.h"
#include "libev.h"
#include "libevent.h"
#include "libuv.h"

/* X(name, return type, parameter list, symbol version or NULL, required).
 * Optional entries are looked up at first use (see real.c); one still
 * missing then leaves its entry NULL, and its wrapper answers ENOSYS, as
 * libc would without it. */
#define CARRY__REAL_SYMBOLS(X) \
    X(pthread_create, int, \
      (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *), NULL, true) \
    X(thrd_create, int, (thrd_t *, thrd_start_t, void *), NULL, false) \
    X(pthread_cond_signal, int, (pthread_cond_t *), NULL, true) \
    X(pthread_cond_broadcast, int, (pthread_cond_t *), NULL, true) \
    X(pthread_cond_wait, int, (pthread_cond_t *, pthread_mutex_t *), NULL, true) \
    X(pthread_cond_timedwait, int, \
      (pthread_cond_t *, pthread_mutex_t *, const struct timespec *), NULL, true) \
    X(pthread_cond_clockwait, int, \
      (pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *), NULL, false) \
    X(execve, int, (const char *, char *const[], char *const[]), NULL, true) \
    X(execvpe, int, (const char *, char *const[], char *const[]), NULL, true) \
    X(posix_spawn, int, \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, \
       const posix_spawnattr_t *, char *const[], char *const[]), NULL, true) \
    X(posix_spawnp, int, \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, \
       const posix_spawnattr_t *, char *const[], char *const[]), NULL, true) \
    X(epoll_create, int, (int), NULL, true) \
    X(epoll_create1, int, (int), NULL, true) \
    X(epoll_ctl, int, (int, int, int, struct epoll_event *), NULL, true) \
    X(epoll_wait, int, (int, struct epoll_event *, int, int), NULL, true) \
    X(epoll_pwait, int, (int, struct epoll_event *, int, int, const sigset_t *), NULL, true) \
    X(epoll_pwait2, int, \
      (int, struct epoll_event *, int, const struct timespec *, const sigset_t *), NULL, false) \
    X(socket, int, (int, int, int), NULL, true) \
    X(getpeername, int, (int, struct sockaddr *, socklen_t *), NULL, true) \
    X(getsockname, int, (int, struct sockaddr *, socklen_t *), NULL, true) \
    X(socketpair, int, (int, int, int, int[2]), NULL, true) \
    X(pipe, int, (int[2]), NULL, true) \
    X(pipe2, int, (int[2], int), NULL, true) \
    X(eventfd, int, (unsigned, int), NULL, true) \
    X(eventfd_read, int, (int, eventfd_t *), NULL, true) \
    X(eventfd_write, int, (int, eventfd_t), NULL, true) \
    X(accept, int, (int, struct sockaddr *, socklen_t *), NULL, true) \
    X(accept4, int, (int, struct sockaddr *, socklen_t *, int), NULL, true) \
    X(connect, int, (int, const struct sockaddr *, socklen_t), NULL, true) \
    X(close, int, (int), NULL, true) \
    X(close_range, int, (unsigned, unsigned, int), NULL, false) \
    X(closefrom, void, (int), NULL, false) \
    X(fclose, int, (FILE *), NULL, true) \
    X(freopen, FILE *, (const char *, const char *, FILE *), NULL, true) \
    X(freopen64, FILE *, (const char *, const char *, FILE *), NULL, true) \
    X(dup, int, (int), NULL, true) \
    X(dup2, int, (int, int), NULL, true) \
    X(dup3, int, (int, int, int), NULL, true) \
    X(fcntl, int, (int, int, ...), NULL, true) \
    X(fcntl64, int, (int, int, ...), NULL, false) \
    X(read, ssize_t, (int, void *, size_t), NULL, true) \
    X(readv, ssize_t, (int, const struct iovec *, int), NULL, true) \
    X(recv, ssize_t, (int, void *, size_t, int), NULL, true) \
    X(recvfrom, ssize_t, (int, void *, size_t, int, struct sockaddr *, socklen_t *), NULL, true) \
    X(recvmsg, ssize_t, (int, struct msghdr *, int), NULL, true) \
    X(recvmmsg, int, (int, struct mmsghdr *, unsigned, int, struct timespec *), NULL, true) \
    X(__read_chk, ssize_t, (int, void *, size_t, size_t), NULL, true) \
    X(__recv_chk, ssize_t, (int, void *, size_t, size_t, int), NULL, true) \
    X(__recvfrom_chk, ssize_t, \
      (int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *), NULL, true) \
    X(write, ssize_t, (int, const void *, size_t), NULL, true) \
    X(writev, ssize_t, (int, const struct iovec *, int), NULL, true) \
    X(send, ssize_t, (int, const void *, size_t, int), NULL, true) \
    X(sendto, ssize_t, \
      (int, const void *, size_t, int, const struct sockaddr *, socklen_t), NULL, true) \
    X(sendmsg, ssize_t, (int, const struct msghdr *, int), NULL, true) \
    X(sendmmsg, int, (int, struct mmsghdr *, unsigned, int), NULL, true) \
    X(sendfile, ssize_t, (int, int, off_t *, size_t), NULL, true) \
    X(sendfile64, ssize_t, (int, int, off64_t *, size_t), NULL, true) \
    X(splice, ssize_t, (int, loff_t *, int, loff_t *, size_t, unsigned), NULL, true) \
    X(vfprintf, int, (FILE *, const char *, va_list), NULL, true) \
    X(__vfprintf_chk, int, (FILE *, int, const char *, va_list), NULL, true) \
    X(vdprintf, int, (int, const char *, va_list), NULL, true) \
    X(__vdprintf_chk, int, (int, int, const char *, va_list), NULL, true) \
    X(fputs, int, (const char *, FILE *), NULL, true) \
    X(puts, int, (const char *), NULL, true) \
    X(fputc, int, (int, FILE *), NULL, true) \
    X(fwrite, size_t, (const void *, size_t, size_t, FILE *), NULL, true) \
    X(perror, void, (const char *), NULL, true) \
    X(vsyslog, void, (int, const char *, va_list), NULL, true) \
    X(__vsyslog_chk, void, (int, int, const char *, va_list), NULL, true) \
    X(signal, __sighandler_t, (int, __sighandler_t), NULL, true) \
    X(sysv_signal, __sighandler_t, (int, __sighandler_t), NULL, false) \
    X(__sysv_signal, __sighandler_t, (int, __sighandler_t), NULL, false) \
    CARRY__REAL_LIBEVENT(X) \
    CARRY__REAL_LIBEV(X) \
    CARRY__REAL_LIBUV(X) \
    CARRY__UV_FS_CALLS(CARRY__UV_FS_REAL, X)

/* libevent 2.1, in the program only if it links it: optional. */
#define CARRY__REAL_LIBEVENT(X) \
    X(event_assign, int, \
      (struct event *, struct event_base *, int, short, carry__levent_cb *, void *), NULL, false) \
    X(event_add, int, (struct event *, const struct timeval *), NULL, false) \
    X(event_del, int, (struct event *), NULL, false) \
    X(event_active, void, (struct event *, int, short), NULL, false) \
    X(event_free, void, (struct event *), NULL, false) \
    X(event_get_callback, carry__levent_cb *, (const struct event *), NULL, false) \
    X(event_get_callback_arg, void *, (const struct event *), NULL, false) \
    X(event_get_assignment, void, \
      (const struct event *, struct event_base **, int *, short *, carry__levent_cb **, \
       void **), NULL, false) \
    X(event_self_cbarg, void *, (void), NULL, false) \
    X(event_base_once, int, \
      (struct event_base *, int, short, carry__levent_cb *, void *, const struct timeval *), \
      NULL, false) \
    X(event_base_loop, int, (struct event_base *, int), NULL, false) \
    X(event_finalize, int, (unsigned, struct event *, carry__levent_finalize_cb *), NULL, false) \
    X(event_free_finalize, int, (unsigned, struct event *, carry__levent_finalize_cb *), NULL, \
      false) \
    X(event_callback_finalize_, int, \
      (struct event_base *, unsigned, void *, carry__levent_finalize_cb *), NULL, false) \
    X(event_callback_finalize_many_, int, \
      (struct event_base *, int, void **, carry__levent_finalize_cb *), NULL, false) \
    X(event_base_dispatch, int, (struct event_base *), NULL, false) \
    X(event_deferred_cb_init_, void, (void *, uint8_t, carry__levent_finalize_cb *, void *), NULL, \
      false) \
    X(event_deferred_cb_schedule_, int, (struct event_base *, void *), NULL, false)

/* libev 4, likewise optional. */
#define CARRY__REAL_LIBEV(X) \
    X(ev_io_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_timer_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_periodic_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_signal_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_child_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_stat_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_idle_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_prepare_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_check_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_embed_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_fork_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_cleanup_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_async_start, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_io_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_timer_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_periodic_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_signal_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_child_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_stat_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_idle_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_prepare_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_check_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_embed_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_fork_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_cleanup_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_async_stop, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_timer_again, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_async_send, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_run, int, (struct ev_loop *, int), NULL, false) \
    X(ev_once, void, \
      (struct ev_loop *, int, int, double, carry__ev_once_cb *, void *), NULL, false)

/* libuv 1.x, likewise optional. */
#define CARRY__REAL_LIBUV(X) \
    X(uv_run, int, (void *, int), NULL, false) \
    X(uv_close, void, (void *, carry__uv_cb *), NULL, false) \
    X(uv_fileno, int, (const void *, int *), NULL, false) \
    X(uv_listen, int, (void *, int, carry__uv_int_cb *), NULL, false) \
    X(uv_read_start, int, (void *, carry__uv_alloc_cb *, carry__uv_read_cb *), NULL, false) \
    X(uv_udp_recv_start, int, (void *, carry__uv_alloc_cb *, carry__uv_udp_recv_cb *), NULL, \
      false) \
    X(uv_poll_start, int, (void *, int, carry__uv_poll_cb *), NULL, false) \
    X(uv_timer_start, int, (void *, carry__uv_cb *, uint64_t, uint64_t), NULL, false) \
    X(uv_timer_again, int, (void *), NULL, false) \
    CARRY__UV_STOPS(CARRY__UV_STOP_REAL, X) \
    X(uv_idle_start, int, (void *, carry__uv_cb *), NULL, false) \
    X(uv_check_start, int, (void *, carry__uv_cb *), NULL, false) \
    X(uv_prepare_start, int, (void *, carry__uv_cb *), NULL, false) \
    X(uv_async_init, int, (void *, void *, carry__uv_cb *), NULL, false) \
    X(uv_async_send, int, (void *), NULL, false) \
    X(uv_signal_start, int, (void *, carry__uv_int_cb *, int), NULL, false) \
    X(uv_signal_start_oneshot, int, (void *, carry__uv_int_cb *, int), NULL, false) \
    X(uv_fs_event_start, int, (void *, carry__uv_fs_event_cb *, const char *, unsigned), NULL, \
      false) \
    X(uv_fs_poll_start, int, (void *, carry__uv_fs_poll_cb *, const char *, unsigned), NULL, \
      false) \
    X(uv_write, int, (void *, void *, const void *, unsigned, carry__uv_int_cb *), NULL, false) \
    X(uv_write2, int, (void *, void *, const void *, unsigned, void *, carry__uv_int_cb *), NULL, \
      false) \
    X(uv_shutdown, int, (void *, void *, carry__uv_int_cb *), NULL, false) \
    X(uv_tcp_connect, int, (void *, void *, const struct sockaddr *, carry__uv_int_cb *), NULL, \
      false) \
    X(uv_pipe_connect, void, (void *, void *, const char *, carry__uv_int_cb *), NULL, false) \
    X(uv_udp_send, int, \
      (void *, void *, const void *, unsigned, const struct sockaddr *, carry__uv_int_cb *), \
      NULL, false) \
    X(uv_queue_work, int, (void *, void *, carry__uv_cb *, carry__uv_int_cb *), NULL, false) \
    X(uv_getaddrinfo, int, \
      (void *, void *, carry__uv_addrinfo_cb *, const char *, const char *, \
       const struct addrinfo *), NULL, false) \
    X(uv_getnameinfo, int, (void *, void *, carry__uv_nameinfo_cb *, const struct sockaddr *, int), \
      NULL, false) \
    X(uv_random, int, (void *, void *, void *, size_t, unsigned, carry__uv_random_cb *), NULL, \
      false)

/* Its uv_fs_* calls (libuv.h). */
#define CARRY__UV_STOP_REAL(X, name) X(uv_##name, int, (void *), NULL, false)

#define CARRY__UV_FS_REAL(X, name, params, args) \
    X(uv_fs_##name, int, (void *loop, void *req, CARRY__UNPAREN params, carry__uv_cb *cb), NULL, \
      false)

struct carry__real_table {
#define CARRY__REAL_FIELD(name, ret, params, version, required) ret(*name) params;
    CARRY__REAL_SYMBOLS(CARRY__REAL_FIELD)
#undef CARRY__REAL_FIELD
};

extern struct carry__real_table carry__real;

/* Binds every entry; aborts with a message if a required one cannot be
 * found, since a wrapper without its real function cannot do what the
 * program asked. */
void carry__real_bind(void);

/* The entry, bound on first use.  A wrapper of an optional symbol is only
 * reached once some loaded object defines the symbol, so an entry still
 * NULL then belongs to a library the program loaded with dlopen after
 * binding: it is looked up again.  An entry is read with one relaxed load
 * (a plain one): once it holds a function it holds that function for
 * good, and a NULL one (not bound yet, or optional) takes the slow way,
 * which binds the table first. */
void *carry__real_late(void **entry, const char *name);
#define CARRY__REAL(name) \
    ({ \
        __typeof__(carry__real.name) carry__fn_ = \
            __atomic_load_n(&carry__real.name, __ATOMIC_RELAXED); \
        CARRY__LIKELY(carry__fn_ != NULL) \
            ? carry__fn_ \
            : (__typeof__(carry__real.name))carry__real_late((void **)&carry__real.name, #name); \
    })

/* A wrapper that is one tail call of the core's entry point with the real
 * function last, entry(args..., real): the bound function goes straight
 * through, so the wrapper keeps no frame (CARRY__REAL's binding is a call
 * it would keep one for); until the entry is bound, a cold twin binds it. */
#define CARRY__REAL_THROUGH(type, name, params, args, entry) \
    static __attribute__((noinline, cold)) type carry__unbound_##name params \
    { \
        return entry(CARRY__ARGS args, CARRY__REAL(name)); \
    } \
    CARRY__EXPORT type name params \
    { \
        __typeof__(carry__real.name) carry__bound_ = CARRY__REAL_BOUND(name); \
        if (CARRY__UNLIKELY(carry__bound_ == NULL)) \
            return carry__unbound_##name args; \
        return entry(CARRY__ARGS args, carry__bound_); \
    }
#define CARRY__ARGS(...) __VA_ARGS__

/* The same, or NULL while the entry is not bound: for the core's common
 * write (hooks.h), which takes the wrapper's own path, where CARRY__REAL
 * binds it, when given NULL.  A load, and no call to keep a frame for. */
#define CARRY__REAL_BOUND(name) __atomic_load_n(&carry__real.name, __ATOMIC_RELAXED)

#endif /* CARRY_REAL_H */
