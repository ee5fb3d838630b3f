/*
 * libuv 1.x: rule L.  libuv calls each callback with its handle or request
 * first, so a wrapper that schedules work hands libuv a trampoline of the
 * callback's type and keeps the application's callback in a record keyed
 * by that handle or request (shim/loops.c); the trampoline finds it there.
 *
 * A handle's record lives until uv_close's callback: its callbacks run in
 * the context its fd owns (rule C), else in the one captured when it was
 * started.  A request's record is one-shot: the trampoline takes it apart
 * before the callback runs, since the callback may free or reuse the
 * request.  uv_queue_work's record holds both callbacks; the work runs on
 * a thread-pool thread, the after-work callback back on the loop.
 */
#include <link.h>
#include <stdlib.h>

#include "real.h"
/* Until rule L moves behind hooks.h. */
#include "../shim/init.h"
#include "../shim/records.h"

typedef void (*carry__fn)(void);

/* Runs a callback of obj's record in the context it should have, counting
 * the libuv callbacks on this thread's stack (see carry__uv_capture). */
struct carry__uv_scope {
    carry_ctx *prev;
};

static inline struct carry__uv_scope carry__uv_enter(carry_ctx *ctx)
{
    carry__self.uv_callbacks++;
    return (struct carry__uv_scope){carry__scope_enter(ctx)};
}

static inline void carry__uv_leave(struct carry__uv_scope *scope)
{
    carry__scope_leave(&scope->prev);
    carry__self.uv_callbacks--;
}

#define CARRY__UV_SCOPE(ctx) \
    struct carry__uv_scope carry__scope_ __attribute__((cleanup(carry__uv_leave))) = \
        carry__uv_enter(ctx)

/* A handle's callback: the record stays. */
#define CARRY__UV_HANDLE_TRAMPOLINE(name, type, field, params, args) \
    static void carry__uv_on_##name params \
    { \
        struct carry__cb *cb = carry__cb_of(obj, false); \
        type *fn = (type *)cb->field; \
        CARRY__UV_SCOPE(carry__cb_context(cb, cb->fd)); \
        fn args; \
    }

/* A request's callback: the record goes before the callback runs.  (The
 * application may give uv_queue_work no after-work callback.) */
#define CARRY__UV_REQUEST_TRAMPOLINE(name, type, field, params, args) \
    static void carry__uv_on_##name params \
    { \
        struct carry__cb *cb = carry__cb_of(obj, false); \
        type *fn = (type *)cb->field; \
        carry_ctx *ctx = carry__cb_context(cb, -1); \
        carry__cb_forget(obj); \
        CARRY__UV_SCOPE(ctx); \
        if (fn != NULL) \
            fn args; \
    }

CARRY__UV_HANDLE_TRAMPOLINE(handle, carry__uv_cb, fn, (void *obj), (obj))
CARRY__UV_HANDLE_TRAMPOLINE(signal, carry__uv_int_cb, fn, (void *obj, int signum), (obj, signum))
CARRY__UV_HANDLE_TRAMPOLINE(poll, carry__uv_poll_cb, fn, (void *obj, int status, int events),
                            (obj, status, events))
CARRY__UV_HANDLE_TRAMPOLINE(alloc, carry__uv_alloc_cb, fn2,
                            (void *obj, size_t suggested, void *buf), (obj, suggested, buf))
CARRY__UV_HANDLE_TRAMPOLINE(read, carry__uv_read_cb, fn,
                            (void *obj, ssize_t nread, const void *buf), (obj, nread, buf))
CARRY__UV_HANDLE_TRAMPOLINE(udp_recv, carry__uv_udp_recv_cb, fn,
                            (void *obj, ssize_t nread, const void *buf,
                             const struct sockaddr *addr, unsigned flags),
                            (obj, nread, buf, addr, flags))
CARRY__UV_HANDLE_TRAMPOLINE(fs_event, carry__uv_fs_event_cb, fn,
                            (void *obj, const char *filename, int events, int status),
                            (obj, filename, events, status))
CARRY__UV_HANDLE_TRAMPOLINE(fs_poll, carry__uv_fs_poll_cb, fn,
                            (void *obj, int status, const void *prev, const void *curr),
                            (obj, status, prev, curr))

CARRY__UV_REQUEST_TRAMPOLINE(request, carry__uv_cb, fn, (void *obj), (obj))
CARRY__UV_REQUEST_TRAMPOLINE(status, carry__uv_int_cb, fn, (void *obj, int status), (obj, status))
CARRY__UV_REQUEST_TRAMPOLINE(after_work, carry__uv_int_cb, fn2, (void *obj, int status),
                             (obj, status))
CARRY__UV_REQUEST_TRAMPOLINE(addrinfo, carry__uv_addrinfo_cb, fn,
                             (void *obj, int status, struct addrinfo *res), (obj, status, res))
CARRY__UV_REQUEST_TRAMPOLINE(nameinfo, carry__uv_nameinfo_cb, fn,
                             (void *obj, int status, const char *host, const char *service),
                             (obj, status, host, service))
CARRY__UV_REQUEST_TRAMPOLINE(random, carry__uv_random_cb, fn,
                             (void *obj, int status, void *buf, size_t len),
                             (obj, status, buf, len))

/* uv_queue_work's work, on a pool thread: the record stays for the
 * after-work callback, which runs on the loop once this returns. */
static void carry__uv_on_work(void *obj)
{
    struct carry__cb *cb = carry__cb_of(obj, false);
    carry__uv_cb *fn = (carry__uv_cb *)cb->fn;
    carry_ctx *ctx = carry__slot_take_local(&cb->ctx);
    carry__count_dispatch(CARRY__B_LIBUV, ctx);
    CARRY__UV_SCOPE(ctx);
    fn(obj);
}

/* A listener's callback.  libuv accepted the connection just before it,
 * so the connection's new context is current (rule C): the callback runs
 * in it, and the thread leaves it when the callback returns, as at any
 * dispatch. */
static void carry__uv_on_connection(void *obj, int status)
{
    struct carry__cb *cb = carry__cb_of(obj, false);
    carry__uv_int_cb *fn = (carry__uv_int_cb *)cb->fn;
    carry_ctx *accepted = carry__self.current;
    carry__self.current = NULL; /* its reference passes to the scope */
    if (accepted != NULL)
        carry__count_dispatch(CARRY__B_LIBUV, accepted);
    CARRY__UV_SCOPE(accepted != NULL ? accepted : carry__cb_context(cb, -1));
    fn(obj, status);
}

/* uv_close's callback (kept in the record's arg): the handle's record
 * goes, since the handle may be freed or reused once libuv is done with
 * it. */
static void carry__uv_on_closed(void *obj)
{
    struct carry__cb *cb = carry__cb_of(obj, false);
    carry__uv_cb *fn = (carry__uv_cb *)cb->arg;
    carry_ctx *ctx = carry__cb_context(cb, -1);
    carry__cb_forget(obj);
    CARRY__UV_SCOPE(ctx);
    if (fn != NULL)
        fn(obj);
}

/* ---- Scheduling ------------------------------------------------------- */

/* libuv's own code, where its internal handles' callbacks live (the
 * thread pool's completion async, fs_poll's timer): carry leaves those
 * alone, so they cost nothing and count as nothing in CARRY_STATS. */
static uintptr_t carry__uv_text, carry__uv_text_size;

static int carry__uv_find_text(struct dl_phdr_info *info, size_t size, void *fn)
{
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && (uintptr_t)fn - start < ph->p_memsz) {
            carry__uv_text = start;
            carry__uv_text_size = ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

static void carry__uv_locate(void)
{
    dl_iterate_phdr(carry__uv_find_text, (void *)CARRY__REAL(uv_run));
}

static bool carry__uv_internal(carry__fn fn)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, carry__uv_locate);
    return (uintptr_t)fn - carry__uv_text < carry__uv_text_size;
}

/* obj's record, set to run fn (and fn2, its second callback) through
 * trampoline, or NULL when carry cannot help: then libuv gets the
 * application's own callback.  A callback that is already the trampoline
 * is libuv (or the application) re-arming a handle carry set up: the
 * record keeps the application's callbacks. */
static struct carry__cb *carry__uv_bind(void *obj, carry__fn fn, carry__fn fn2,
                                        carry__fn trampoline, bool persist)
{
    if (obj == NULL || fn == NULL || !carry__on(CARRY__RULE_LOOPS) ||
        (fn != trampoline && carry__uv_internal(fn)))
        return NULL;
    struct carry__cb *cb = carry__cb_of(obj, true);
    if (cb == NULL)
        return NULL;
    if (fn != trampoline) {
        cb->fn = fn;
        cb->fn2 = fn2;
    }
    cb->fd = -1;
    cb->persist = persist;
    cb->boundary = CARRY__B_LIBUV;
    return cb;
}

/* Captures the context for cb's work.  libuv re-arms a repeating timer
 * from its loop (uv_timer_again, through the PLT) outside any callback:
 * that is not the application scheduling, so the timer keeps the context
 * it was started in. */
static void carry__uv_capture(struct carry__cb *cb, bool rearm)
{
    if (rearm && carry__self.in_loop != 0 && carry__self.uv_callbacks == 0)
        return;
    carry__cb_capture(cb);
}

/* The fd a handle watches, for rule C, or -1. */
static int carry__uv_fd(void *obj)
{
    int fd;
    return CARRY__REAL(uv_fileno)(obj, &fd) == 0 ? fd : -1;
}

/* The callback to give libuv for a handle started with fn (fn2 its second
 * callback): the trampoline, or fn when carry cannot help.  A handle on an
 * fd (watch_fd) runs its callbacks in the context the fd owns. */
#define CARRY__UV_START(obj, fn, fn2, trampoline, rearm, watch_fd) \
    ({ \
        struct carry__cb *carry__cb_ = carry__uv_bind(obj, (carry__fn)(fn), (carry__fn)(fn2), \
                                                      (carry__fn)(trampoline), true); \
        if (carry__cb_ != NULL) { \
            if (watch_fd) \
                carry__cb_->fd = carry__uv_fd(obj); \
            carry__uv_capture(carry__cb_, rearm); \
        } \
        carry__cb_ != NULL ? (trampoline) : (fn); \
    })

/* The callback to give libuv for a request: the trampoline, once the
 * request's record holds fn and the current context, or fn. */
static bool carry__uv_request(void *req, carry__fn fn, carry__fn fn2, carry__fn trampoline)
{
    struct carry__cb *cb = carry__uv_bind(req, fn, fn2, trampoline, false);
    if (cb != NULL)
        carry__cb_capture(cb);
    return cb != NULL;
}

#define CARRY__UV_ASK(req, fn, trampoline) \
    (carry__uv_request(req, (carry__fn)(fn), NULL, (carry__fn)(trampoline)) ? (trampoline) : (fn))

/* libuv refused the request before queueing it: its callback never runs. */
static int carry__uv_queued(void *req, bool ours, int rc)
{
    if (ours && rc != 0)
        carry__cb_forget(req);
    return rc;
}

/* Thread-pool work is queued with no context current, so that the pool's
 * threads, which libuv starts from the first such call, do not inherit
 * the caller's context (rule T) and run libuv's own work in it.  Calls
 * without a callback run synchronously, in the caller's context. */
struct carry__uv_pool {
    carry_ctx *prev;
    bool cleared;
};

static inline struct carry__uv_pool carry__uv_pool_enter(bool async)
{
    return async ? (struct carry__uv_pool){carry__scope_enter(NULL), true}
                 : (struct carry__uv_pool){NULL, false};
}

static inline void carry__uv_pool_leave(struct carry__uv_pool *pool)
{
    if (pool->cleared)
        carry__scope_leave(&pool->prev);
}

#define CARRY__UV_POOL(async) \
    struct carry__uv_pool carry__pool_ __attribute__((cleanup(carry__uv_pool_leave))) = \
        carry__uv_pool_enter(async)

/* ---- Handles ---------------------------------------------------------- */

CARRY__EXPORT int uv_timer_start(void *timer, carry__uv_cb *fn, uint64_t timeout,
                                 uint64_t repeat)
{
    carry__uv_cb *given = CARRY__UV_START(timer, fn, NULL, carry__uv_on_handle, true, false);
    return CARRY__REAL(uv_timer_start)(timer, given, timeout, repeat);
}

CARRY__EXPORT int uv_timer_again(void *timer)
{
    struct carry__cb *cb = timer != NULL ? carry__cb_of(timer, false) : NULL;
    if (cb != NULL)
        carry__uv_capture(cb, true);
    return CARRY__REAL(uv_timer_again)(timer);
}

#define CARRY__UV_SIMPLE_START(kind) \
    CARRY__EXPORT int uv_##kind##_start(void *handle, carry__uv_cb *fn) \
    { \
        carry__uv_cb *given = \
            CARRY__UV_START(handle, fn, NULL, carry__uv_on_handle, false, false); \
        return CARRY__REAL(uv_##kind##_start)(handle, given); \
    }
CARRY__UV_SIMPLE_START(idle)
CARRY__UV_SIMPLE_START(check)
CARRY__UV_SIMPLE_START(prepare)
#undef CARRY__UV_SIMPLE_START

CARRY__EXPORT int uv_signal_start(void *handle, carry__uv_int_cb *fn, int signum)
{
    carry__uv_int_cb *given = CARRY__UV_START(handle, fn, NULL, carry__uv_on_signal, false, false);
    return CARRY__REAL(uv_signal_start)(handle, given, signum);
}

CARRY__EXPORT int uv_signal_start_oneshot(void *handle, carry__uv_int_cb *fn, int signum)
{
    carry__uv_int_cb *given = CARRY__UV_START(handle, fn, NULL, carry__uv_on_signal, false, false);
    return CARRY__REAL(uv_signal_start_oneshot)(handle, given, signum);
}

CARRY__EXPORT int uv_fs_event_start(void *handle, carry__uv_fs_event_cb *fn, const char *path,
                                    unsigned flags)
{
    carry__uv_fs_event_cb *given =
        CARRY__UV_START(handle, fn, NULL, carry__uv_on_fs_event, false, false);
    return CARRY__REAL(uv_fs_event_start)(handle, given, path, flags);
}

CARRY__EXPORT int uv_fs_poll_start(void *handle, carry__uv_fs_poll_cb *fn, const char *path,
                                   unsigned interval)
{
    carry__uv_fs_poll_cb *given =
        CARRY__UV_START(handle, fn, NULL, carry__uv_on_fs_poll, false, false);
    return CARRY__REAL(uv_fs_poll_start)(handle, given, path, interval);
}

/* uv_async_send (from any thread) captures; the callback stays. */
CARRY__EXPORT int uv_async_init(void *loop, void *async, carry__uv_cb *fn)
{
    struct carry__cb *cb =
        carry__uv_bind(async, (carry__fn)fn, NULL, (carry__fn)carry__uv_on_handle, true);
    if (cb != NULL)
        carry__cb_drop(cb); /* a re-initialised handle starts afresh */
    return CARRY__REAL(uv_async_init)(loop, async, cb != NULL ? carry__uv_on_handle : fn);
}

CARRY__EXPORT int uv_async_send(void *async)
{
    struct carry__cb *cb = async != NULL ? carry__cb_of(async, false) : NULL;
    if (cb != NULL)
        carry__cb_capture(cb);
    return CARRY__REAL(uv_async_send)(async);
}

CARRY__EXPORT int uv_poll_start(void *handle, int events, carry__uv_poll_cb *fn)
{
    carry__uv_poll_cb *given = CARRY__UV_START(handle, fn, NULL, carry__uv_on_poll, false, true);
    return CARRY__REAL(uv_poll_start)(handle, events, given);
}

CARRY__EXPORT int uv_listen(void *stream, int backlog, carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given =
        CARRY__UV_START(stream, fn, NULL, carry__uv_on_connection, false, false);
    return CARRY__REAL(uv_listen)(stream, backlog, given);
}

/* libuv refuses a NULL alloc_cb itself: carry passes such a call through. */
CARRY__EXPORT int uv_read_start(void *stream, carry__uv_alloc_cb *alloc, carry__uv_read_cb *fn)
{
    carry__uv_read_cb *given =
        alloc != NULL ? CARRY__UV_START(stream, fn, alloc, carry__uv_on_read, false, true) : fn;
    return CARRY__REAL(uv_read_start)(stream, given != fn ? carry__uv_on_alloc : alloc, given);
}

CARRY__EXPORT int uv_udp_recv_start(void *udp, carry__uv_alloc_cb *alloc,
                                    carry__uv_udp_recv_cb *fn)
{
    carry__uv_udp_recv_cb *given =
        alloc != NULL ? CARRY__UV_START(udp, fn, alloc, carry__uv_on_udp_recv, false, false) : fn;
    return CARRY__REAL(uv_udp_recv_start)(udp, given != fn ? carry__uv_on_alloc : alloc, given);
}

/* uv_close (which uv_tcp_close_reset calls through the PLT): the close
 * callback goes in the handle's record, to run in the context current
 * here.  The handle's own callbacks stay: libuv may still call one during
 * the dispatch that closed it (a udp handle's last recvmmsg callback,
 * which frees the buffer). */
CARRY__EXPORT void uv_close(void *handle, carry__uv_cb *fn)
{
    struct carry__cb *cb = handle != NULL && carry__on(CARRY__RULE_LOOPS) &&
                                   (fn == NULL || !carry__uv_internal((carry__fn)fn))
                               ? carry__cb_of(handle, fn != NULL)
                               : NULL;
    if (cb != NULL) {
        cb->arg = (void *)fn;
        cb->boundary = CARRY__B_LIBUV;
        carry__cb_capture(cb);
    }
    CARRY__REAL(uv_close)(handle, cb != NULL ? carry__uv_on_closed : fn);
}

/* ---- Requests --------------------------------------------------------- */

CARRY__EXPORT int uv_write(void *req, void *stream, const void *bufs, unsigned nbufs,
                           carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_status);
    return carry__uv_queued(req, given != fn,
                            CARRY__REAL(uv_write)(req, stream, bufs, nbufs, given));
}

CARRY__EXPORT int uv_write2(void *req, void *stream, const void *bufs, unsigned nbufs,
                            void *send_handle, carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_status);
    return carry__uv_queued(
        req, given != fn, CARRY__REAL(uv_write2)(req, stream, bufs, nbufs, send_handle, given));
}

CARRY__EXPORT int uv_shutdown(void *req, void *stream, carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_status);
    return carry__uv_queued(req, given != fn, CARRY__REAL(uv_shutdown)(req, stream, given));
}

CARRY__EXPORT int uv_tcp_connect(void *req, void *tcp, const struct sockaddr *addr,
                                 carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_status);
    return carry__uv_queued(req, given != fn, CARRY__REAL(uv_tcp_connect)(req, tcp, addr, given));
}

/* uv_pipe_connect reports every error through its callback. */
CARRY__EXPORT void uv_pipe_connect(void *req, void *pipe, const char *name, carry__uv_int_cb *fn)
{
    CARRY__REAL(uv_pipe_connect)(req, pipe, name, CARRY__UV_ASK(req, fn, carry__uv_on_status));
}

CARRY__EXPORT int uv_udp_send(void *req, void *udp, const void *bufs, unsigned nbufs,
                              const struct sockaddr *addr, carry__uv_int_cb *fn)
{
    carry__uv_int_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_status);
    return carry__uv_queued(req, given != fn,
                            CARRY__REAL(uv_udp_send)(req, udp, bufs, nbufs, addr, given));
}

/* The work runs in the context captured here, on a pool thread; the
 * after-work callback (which may be NULL) runs in it too, on the loop. */
CARRY__EXPORT int uv_queue_work(void *loop, void *req, carry__uv_cb *work,
                                carry__uv_int_cb *after)
{
    bool ours = carry__uv_request(req, (carry__fn)work, (carry__fn)after,
                                  (carry__fn)carry__uv_on_work);
    CARRY__UV_POOL(work != NULL);
    return carry__uv_queued(req, ours,
                            CARRY__REAL(uv_queue_work)(loop, req, ours ? carry__uv_on_work : work,
                                                       ours ? carry__uv_on_after_work : after));
}

CARRY__EXPORT int uv_getaddrinfo(void *loop, void *req, carry__uv_addrinfo_cb *fn,
                                 const char *node, const char *service,
                                 const struct addrinfo *hints)
{
    carry__uv_addrinfo_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_addrinfo);
    CARRY__UV_POOL(fn != NULL);
    return carry__uv_queued(
        req, given != fn, CARRY__REAL(uv_getaddrinfo)(loop, req, given, node, service, hints));
}

CARRY__EXPORT int uv_getnameinfo(void *loop, void *req, carry__uv_nameinfo_cb *fn,
                                 const struct sockaddr *addr, int flags)
{
    carry__uv_nameinfo_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_nameinfo);
    CARRY__UV_POOL(fn != NULL);
    return carry__uv_queued(req, given != fn,
                            CARRY__REAL(uv_getnameinfo)(loop, req, given, addr, flags));
}

CARRY__EXPORT int uv_random(void *loop, void *req, void *buf, size_t len, unsigned flags,
                            carry__uv_random_cb *fn)
{
    carry__uv_random_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_random);
    CARRY__UV_POOL(fn != NULL);
    return carry__uv_queued(req, given != fn,
                            CARRY__REAL(uv_random)(loop, req, buf, len, flags, given));
}

#define CARRY__UV_FS_WRAPPER(X, name, params, args) \
    CARRY__EXPORT int uv_fs_##name(void *loop, void *req, CARRY__UNPAREN params, carry__uv_cb *fn) \
    { \
        carry__uv_cb *given = CARRY__UV_ASK(req, fn, carry__uv_on_request); \
        CARRY__UV_POOL(fn != NULL); \
        return carry__uv_queued( \
            req, given != fn, \
            CARRY__REAL(uv_fs_##name)(loop, req, CARRY__UNPAREN args, given)); \
    }
CARRY__UV_FS_CALLS(CARRY__UV_FS_WRAPPER, unused)
#undef CARRY__UV_FS_WRAPPER

/* ---- The loop --------------------------------------------------------- */

/* Rule D: running the loop ends the thread's context. */
CARRY__EXPORT int uv_run(void *loop, int mode)
{
    carry__hook_loop_enter();
    int rc = CARRY__REAL(uv_run)(loop, mode);
    carry__hook_loop_leave();
    return rc;
}
