/*
 * libuv 1.x: rule L.  libuv calls each callback with its handle or request
 * first, so a wrapper that schedules work hands libuv a trampoline of the
 * callback's type, and the core keeps the application's callbacks in a
 * record found by that handle or request; the trampoline finds them there.
 *
 * A handle's record lives until uv_close's callback; a request's goes
 * before its callback runs, since the callback may free or reuse the
 * request.  uv_queue_work's record holds both callbacks: the work runs on
 * a thread-pool thread, the after-work callback back on the loop.  What is
 * captured when, and which callbacks are libuv's own and left alone, is
 * the core's (shim/records.c).
 */
#include "real.h"

typedef void (*carry__fn)(void);

/* ---- Scheduling ------------------------------------------------------- */

/* Whether obj's record now holds fn (and alloc, or after_work: cbs's
 * second callback) for trampoline to run.  A callback that is the
 * trampoline already is libuv (or the application) re-arming a handle
 * carry set up: the record keeps the application's callbacks.  fd: the fd
 * the handle watches, or -1; caller: the wrapper's return address. */
static bool carry__uv_start(void *obj, carry__fn fn, carry__fn alloc, carry__fn trampoline,
                            int fd, unsigned flags, const void *caller)
{
    struct carry__cb given = {.fn = fn, .alloc = alloc};
    return carry__hook_cb_start(obj, fn == trampoline ? NULL : &given, fd,
                                CARRY__CB_LIBUV | flags, caller) != NULL;
}

/* The callback for a wrapper to give libuv for obj: the trampoline, or fn
 * when carry leaves obj alone. */
#define CARRY__UV_GIVE(obj, fn, alloc, trampoline, fd, flags) \
    (carry__uv_start(obj, (carry__fn)(fn), (carry__fn)(alloc), (carry__fn)(trampoline), fd, \
                     flags, __builtin_return_address(0)) \
         ? (trampoline) \
         : (fn))

/* A handle that persists until uv_close. */
#define CARRY__UV_HANDLE(obj, fn, trampoline, flags) \
    CARRY__UV_GIVE(obj, fn, NULL, trampoline, -1, CARRY__CB_PERSIST | (flags))

/* A request, whose callback runs once. */
#define CARRY__UV_REQUEST(req, fn, trampoline) \
    CARRY__UV_GIVE(req, fn, NULL, trampoline, -1, CARRY__CB_REQUEST)

/* The fd a handle watches, for rule C, or -1.  A NULL handle is the
 * program's bad call, which libuv answers itself (uv_read_start:
 * UV_EINVAL) and uv_fileno would not survive. */
static int carry__uv_fd(void *obj)
{
    int fd;
    return obj != NULL && CARRY__REAL(uv_fileno)(obj, &fd) == 0 ? fd : -1;
}

/* libuv refused the request before queueing it: its callback never runs. */
static int carry__uv_queued(void *req, bool ours, int rc)
{
    if (ours && rc != 0)
        carry__hook_uv_refused(req);
    return rc;
}

/* ---- Handles ---------------------------------------------------------- */

CARRY__EXPORT int uv_timer_start(void *timer, carry__uv_cb *fn, uint64_t timeout,
                                 uint64_t repeat)
{
    carry__uv_cb *given = CARRY__UV_HANDLE(timer, fn, carry__hook_uv_on_handle, CARRY__CB_TIMER);
    return CARRY__REAL(uv_timer_start)(timer, given, timeout, repeat);
}

CARRY__EXPORT int uv_timer_again(void *timer)
{
    carry__hook_cb_schedule(timer, __builtin_return_address(0));
    return CARRY__REAL(uv_timer_again)(timer);
}

#define CARRY__UV_SIMPLE_START(kind) \
    CARRY__EXPORT int uv_##kind##_start(void *handle, carry__uv_cb *fn) \
    { \
        carry__uv_cb *given = CARRY__UV_HANDLE(handle, fn, carry__hook_uv_on_handle, 0); \
        return CARRY__REAL(uv_##kind##_start)(handle, given); \
    }
CARRY__UV_SIMPLE_START(idle)
CARRY__UV_SIMPLE_START(check)
CARRY__UV_SIMPLE_START(prepare)
#undef CARRY__UV_SIMPLE_START

CARRY__EXPORT int uv_signal_start(void *handle, carry__uv_int_cb *fn, int signum)
{
    carry__uv_int_cb *given = CARRY__UV_HANDLE(handle, fn, carry__hook_uv_on_int, 0);
    return CARRY__REAL(uv_signal_start)(handle, given, signum);
}

CARRY__EXPORT int uv_signal_start_oneshot(void *handle, carry__uv_int_cb *fn, int signum)
{
    carry__uv_int_cb *given = CARRY__UV_HANDLE(handle, fn, carry__hook_uv_on_int, 0);
    return CARRY__REAL(uv_signal_start_oneshot)(handle, given, signum);
}

CARRY__EXPORT int uv_fs_event_start(void *handle, carry__uv_fs_event_cb *fn, const char *path,
                                    unsigned flags)
{
    carry__uv_fs_event_cb *given = CARRY__UV_HANDLE(handle, fn, carry__hook_uv_on_fs_event, 0);
    return CARRY__REAL(uv_fs_event_start)(handle, given, path, flags);
}

CARRY__EXPORT int uv_fs_poll_start(void *handle, carry__uv_fs_poll_cb *fn, const char *path,
                                   unsigned interval)
{
    carry__uv_fs_poll_cb *given = CARRY__UV_HANDLE(handle, fn, carry__hook_uv_on_fs_poll, 0);
    return CARRY__REAL(uv_fs_poll_start)(handle, given, path, interval);
}

/* uv_async_send (from any thread) schedules; the callback stays.  libuv
 * runs it once for the sends made before it runs (see
 * carry__record_send). */
CARRY__EXPORT int uv_async_init(void *loop, void *async, carry__uv_cb *fn)
{
    struct carry__cb given = {.fn = (carry__fn)fn};
    bool ours =
        carry__hook_cb_assign(async, &given, -1, CARRY__CB_LIBUV | CARRY__CB_PERSIST) != NULL;
    return CARRY__REAL(uv_async_init)(loop, async, ours ? carry__hook_uv_on_handle : fn);
}

CARRY__EXPORT int uv_async_send(void *async)
{
    carry__hook_cb_send(async);
    return CARRY__REAL(uv_async_send)(async);
}

CARRY__EXPORT int uv_poll_start(void *handle, int events, carry__uv_poll_cb *fn)
{
    carry__uv_poll_cb *given = CARRY__UV_GIVE(handle, fn, NULL, carry__hook_uv_on_poll,
                                              carry__uv_fd(handle), CARRY__CB_PERSIST);
    return CARRY__REAL(uv_poll_start)(handle, events, given);
}

CARRY__EXPORT int uv_listen(void *stream, int backlog, carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_HANDLE(stream, fn, carry__hook_uv_on_connection, 0);
    return CARRY__REAL(uv_listen)(stream, backlog, given);
}

/* libuv refuses a NULL alloc_cb itself: carry passes such a call through. */
CARRY__EXPORT int uv_read_start(void *stream, carry__uv_alloc_cb *alloc, carry__uv_read_cb *fn)
{
    carry__uv_read_cb *given =
        alloc != NULL ? CARRY__UV_GIVE(stream, fn, alloc, carry__hook_uv_on_read, carry__uv_fd(stream),
                                       CARRY__CB_PERSIST)
                      : fn;
    return CARRY__REAL(uv_read_start)(stream, given != fn ? carry__hook_uv_on_alloc : alloc, given);
}

CARRY__EXPORT int uv_udp_recv_start(void *udp, carry__uv_alloc_cb *alloc,
                                    carry__uv_udp_recv_cb *fn)
{
    carry__uv_udp_recv_cb *given =
        alloc != NULL ? CARRY__UV_GIVE(udp, fn, alloc, carry__hook_uv_on_udp_recv, -1, CARRY__CB_PERSIST)
                      : fn;
    return CARRY__REAL(uv_udp_recv_start)(udp, given != fn ? carry__hook_uv_on_alloc : alloc, given);
}

/* A stopped handle's callbacks run no more until it is started again:
 * its record lets go of its context (unless libuv stops a timer that
 * fires, just before its callback). */
#define CARRY__UV_STOP(unused, name) \
    CARRY__EXPORT int uv_##name(void *handle) \
    { \
        carry__hook_cb_stop(handle, CARRY__CB_LIBUV, __builtin_return_address(0)); \
        return CARRY__REAL(uv_##name)(handle); \
    }
CARRY__UV_STOPS(CARRY__UV_STOP, unused)
#undef CARRY__UV_STOP

/* uv_close (which uv_tcp_close_reset calls through the PLT). */
CARRY__EXPORT void uv_close(void *handle, carry__uv_cb *fn)
{
    bool ours = carry__hook_cb_closing(handle, (carry__fn)fn);
    CARRY__REAL(uv_close)(handle, ours ? carry__hook_uv_on_closed : fn);
}

/* ---- Requests --------------------------------------------------------- */

CARRY__EXPORT int uv_write(void *req, void *stream, const void *bufs, unsigned nbufs,
                           carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_status);
    return carry__uv_queued(req, given != fn,
                            CARRY__REAL(uv_write)(req, stream, bufs, nbufs, given));
}

CARRY__EXPORT int uv_write2(void *req, void *stream, const void *bufs, unsigned nbufs,
                            void *send_handle, carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_status);
    return carry__uv_queued(
        req, given != fn, CARRY__REAL(uv_write2)(req, stream, bufs, nbufs, send_handle, given));
}

CARRY__EXPORT int uv_shutdown(void *req, void *stream, carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_status);
    return carry__uv_queued(req, given != fn, CARRY__REAL(uv_shutdown)(req, stream, given));
}

CARRY__EXPORT int uv_tcp_connect(void *req, void *tcp, const struct sockaddr *addr,
                                 carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_status);
    return carry__uv_queued(req, given != fn, CARRY__REAL(uv_tcp_connect)(req, tcp, addr, given));
}

/* uv_pipe_connect reports every error through its callback. */
CARRY__EXPORT void uv_pipe_connect(void *req, void *pipe, const char *name, carry__uv_int_cb *fn)
{
    CARRY__REAL(uv_pipe_connect)(req, pipe, name, CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_status));
}

CARRY__EXPORT int uv_udp_send(void *req, void *udp, const void *bufs, unsigned nbufs,
                              const struct sockaddr *addr, carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_status);
    return carry__uv_queued(req, given != fn,
                            CARRY__REAL(uv_udp_send)(req, udp, bufs, nbufs, addr, given));
}

/* The work runs in the context captured here, on a pool thread; the
 * after-work callback (which may be NULL) runs in it too, on the loop.
 * Its record persists from the work to the after-work callback. */
CARRY__EXPORT int uv_queue_work(void *loop, void *req, carry__uv_cb *work,
                                carry__uv_int_cb *after)
{
    bool ours = carry__uv_start(req, (carry__fn)work, (carry__fn)after,
                                (carry__fn)carry__hook_uv_on_work, -1,
                                CARRY__CB_PERSIST | CARRY__CB_REQUEST, __builtin_return_address(0));
    CARRY__UV_POOL_SCOPE(work != NULL);
    return carry__uv_queued(req, ours,
                            CARRY__REAL(uv_queue_work)(loop, req, ours ? carry__hook_uv_on_work : work,
                                                       ours ? carry__hook_uv_on_after_work : after));
}

CARRY__EXPORT int uv_getaddrinfo(void *loop, void *req, carry__uv_addrinfo_cb *fn,
                                 const char *node, const char *service,
                                 const struct addrinfo *hints)
{
    carry__uv_addrinfo_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_addrinfo);
    CARRY__UV_POOL_SCOPE(fn != NULL);
    return carry__uv_queued(
        req, given != fn, CARRY__REAL(uv_getaddrinfo)(loop, req, given, node, service, hints));
}

CARRY__EXPORT int uv_getnameinfo(void *loop, void *req, carry__uv_nameinfo_cb *fn,
                                 const struct sockaddr *addr, int flags)
{
    carry__uv_nameinfo_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_nameinfo);
    CARRY__UV_POOL_SCOPE(fn != NULL);
    return carry__uv_queued(req, given != fn,
                            CARRY__REAL(uv_getnameinfo)(loop, req, given, addr, flags));
}

CARRY__EXPORT int uv_random(void *loop, void *req, void *buf, size_t len, unsigned flags,
                            carry__uv_random_cb *fn)
{
    carry__uv_random_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_random);
    CARRY__UV_POOL_SCOPE(fn != NULL);
    return carry__uv_queued(req, given != fn,
                            CARRY__REAL(uv_random)(loop, req, buf, len, flags, given));
}

#define CARRY__UV_FS_WRAPPER(X, name, params, args) \
    CARRY__EXPORT int uv_fs_##name(void *loop, void *req, CARRY__UNPAREN params, carry__uv_cb *fn) \
    { \
        carry__uv_cb *given = CARRY__UV_REQUEST(req, fn, carry__hook_uv_on_request); \
        CARRY__UV_POOL_SCOPE(fn != NULL); \
        return carry__uv_queued( \
            req, given != fn, \
            CARRY__REAL(uv_fs_##name)(loop, req, CARRY__UNPAREN args, given)); \
    }
CARRY__UV_FS_CALLS(CARRY__UV_FS_WRAPPER, unused)
#undef CARRY__UV_FS_WRAPPER

/* ---- The loop --------------------------------------------------------- */

/* Rule D: running the loop ends the thread's context (a loop nested in
 * a callback gives the callback its context back). */
CARRY__EXPORT int uv_run(void *loop, int mode)
{
    carry__loop_scope scope = carry__hook_loop_enter();
    int rc = CARRY__REAL(uv_run)(loop, mode);
    carry__hook_loop_leave(scope);
    return rc;
}
