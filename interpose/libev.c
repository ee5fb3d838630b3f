/*
 * libev 4: rule L.  libev calls a watcher's callback straight from the
 * watcher, so starting a watcher swaps its cb for the core's trampoline
 * (carry__hook_ev_run), which finds the application's callback in the
 * watcher's record.  The swap is
 * never undone: a watcher may be started again.  Starting a watcher,
 * ev_timer_again and ev_async_send schedule (ev_feed_event is not
 * wrapped: libev feeds its own events from the loop, where capturing
 * would lose the right context); stopping one unschedules, unless libev
 * stops it itself to run it once more.  What is captured when is the
 * core's (shim/records.c).
 */
#include "real.h"

/* w is started by a call returning to caller: its callback goes to the
 * record (once).  When carry leaves w alone, w keeps its own callback and
 * runs with no context change. */
static void carry__ev_start(void *w, bool io, const void *caller)
{
    struct carry__ev_watcher *watcher = w;
    if (w == NULL)
        return;
    bool taken = watcher->cb == carry__hook_ev_run;
    struct carry__cb given = {.fn = (void (*)(void))watcher->cb};
    if (carry__hook_cb_start(w, taken ? NULL : &given, io ? watcher->fd : -1,
                             CARRY__CB_LIBEV | CARRY__CB_PERSIST, caller) != NULL)
        watcher->cb = carry__hook_ev_run;
}

#define CARRY__EV_START(kind) \
    CARRY__EXPORT void ev_##kind##_start(struct ev_loop *loop, void *w) \
    { \
        carry__ev_start(w, __builtin_strcmp(#kind, "io") == 0, __builtin_return_address(0)); \
        CARRY__REAL(ev_##kind##_start)(loop, w); \
    }
CARRY__EV_WATCHER_KINDS(CARRY__EV_START)
#undef CARRY__EV_START

#define CARRY__EV_STOP(kind) \
    CARRY__EXPORT void ev_##kind##_stop(struct ev_loop *loop, void *w) \
    { \
        carry__hook_cb_stop(w, CARRY__CB_LIBEV, __builtin_return_address(0)); \
        CARRY__REAL(ev_##kind##_stop)(loop, w); \
    }
CARRY__EV_WATCHER_KINDS(CARRY__EV_STOP)
#undef CARRY__EV_STOP

CARRY__EXPORT void ev_timer_again(struct ev_loop *loop, void *w)
{
    carry__ev_start(w, false, __builtin_return_address(0));
    CARRY__REAL(ev_timer_again)(loop, w);
}

CARRY__EXPORT void ev_async_send(struct ev_loop *loop, void *w)
{
    carry__hook_cb_send(w);
    CARRY__REAL(ev_async_send)(loop, w);
}

/* ev_once: a one-shot record, which goes when it runs. */
static void carry__ev_once_run(int revents, void *p)
{
    struct carry__cb once;
    CARRY__CB_SCOPE(carry__hook_cb_enter_last(p, &once));
    ((carry__ev_once_cb *)once.fn)(revents, once.arg);
}

/* libev watches fd only when it is one (an io watcher). */
CARRY__EXPORT void ev_once(struct ev_loop *loop, int fd, int events, double timeout,
                           carry__ev_once_cb *fn, void *arg)
{
    struct carry__cb given = {.fn = (void (*)(void))fn, .arg = arg};
    struct carry__cb *cb = carry__hook_cb_once(&given, fd >= 0 ? fd : -1, CARRY__CB_LIBEV);
    if (cb == NULL)
        CARRY__REAL(ev_once)(loop, fd, events, timeout, fn, arg);
    else
        CARRY__REAL(ev_once)(loop, fd, events, timeout, carry__ev_once_run, cb);
}

/* Rule D: running the loop ends the thread's context (a loop nested in
 * a callback gives the callback its context back). */
CARRY__EXPORT int ev_run(struct ev_loop *loop, int flags)
{
    carry__loop_scope scope = carry__hook_loop_enter();
    int rc = CARRY__REAL(ev_run)(loop, flags);
    carry__hook_loop_leave(scope);
    return rc;
}
