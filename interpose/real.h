/*
 * The next definitions of the functions libcarry wraps, in one table bound
 * lazily by dlsym(RTLD_NEXT) or, for versioned symbols, dlvsym.  A wrapper
 * calls CARRY__REAL(name)(args...).
 */
#ifndef CARRY_REAL_H
#define CARRY_REAL_H

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "../shim/internal.h"

/* X(name, return type, parameter list, symbol version or NULL, required).
 * A missing optional symbol leaves its entry NULL; its wrapper answers
 * ENOSYS, as libc would without it. */
#define CARRY__REAL_SYMBOLS(X) \
    X(pthread_create, int, \
      (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *), NULL, true) \
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
    X(accept, int, (int, struct sockaddr *, socklen_t *), NULL, true) \
    X(accept4, int, (int, struct sockaddr *, socklen_t *, int), NULL, true) \
    X(connect, int, (int, const struct sockaddr *, socklen_t), NULL, true) \
    X(close, int, (int), NULL, true) \
    X(close_range, int, (unsigned, unsigned, int), NULL, false) \
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
    X(write, ssize_t, (int, const void *, size_t), NULL, true) \
    X(writev, ssize_t, (int, const struct iovec *, int), NULL, true) \
    X(send, ssize_t, (int, const void *, size_t, int), NULL, true) \
    X(sendto, ssize_t, \
      (int, const void *, size_t, int, const struct sockaddr *, socklen_t), NULL, true) \
    X(sendmsg, ssize_t, (int, const struct msghdr *, int), NULL, true) \
    X(sendmmsg, int, (int, struct mmsghdr *, unsigned, int), NULL, true) \
    X(sigaction, int, (int, const struct sigaction *, struct sigaction *), NULL, true) \
    X(signal, __sighandler_t, (int, __sighandler_t), NULL, true) \
    X(sysv_signal, __sighandler_t, (int, __sighandler_t), NULL, false) \
    X(__sysv_signal, __sighandler_t, (int, __sighandler_t), NULL, false) \
    CARRY__REAL_LIBEVENT(X) \
    CARRY__REAL_LIBEV(X)

/* libevent 2.1, in the program only if it links it: optional.  Its ABI is
 * declared here rather than taken from its headers, so that libcarry
 * builds without them. */
struct event;
struct event_base;
typedef void carry__levent_cb(int fd, short what, void *arg);
/* Finalizers take the event (or libevent's internal event_callback, whose
 * address is the event's) and the event's argument. */
typedef void carry__levent_finalize_cb(void *evcb, void *arg);
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
    X(event_callback_finalize_many_, int, \
      (struct event_base *, int, void **, carry__levent_finalize_cb *), NULL, false) \
    X(event_base_dispatch, int, (struct event_base *), NULL, false)

/* libev 4, likewise optional, its ABI declared here (Debian's build: every
 * watcher starts with int active, pending, priority; void *data; then the
 * callback; an ev_io's fd follows the list link). */
struct ev_loop;
typedef void carry__ev_cb(struct ev_loop *loop, void *watcher, int revents);
struct carry__ev_watcher {
    int active, pending, priority;
    void *data;
    carry__ev_cb *cb;
    void *next;
    int fd; /* ev_io only */
};
#define CARRY__EV_WATCHER_STARTS(X) \
    X(io) X(timer) X(periodic) X(signal) X(child) X(stat) X(idle) X(prepare) X(check) \
    X(embed) X(fork) X(cleanup) X(async)
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
    X(ev_timer_again, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_async_send, void, (struct ev_loop *, void *), NULL, false) \
    X(ev_run, int, (struct ev_loop *, int), NULL, false) \
    X(ev_once, void, \
      (struct ev_loop *, int, int, double, void (*)(int, void *), void *), NULL, false)

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
extern _Atomic int carry__real_bound;

#define CARRY__REAL(name) \
    (CARRY__LIKELY(atomic_load_explicit(&carry__real_bound, memory_order_acquire)) \
         ? carry__real.name \
         : (carry__real_bind(), carry__real.name))

#endif /* CARRY_REAL_H */
