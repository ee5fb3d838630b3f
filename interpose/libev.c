/*
 * libev 4: rule L.  libev calls a watcher's callback straight from the
 * watcher, so starting a watcher swaps its cb for a trampoline, which
 * finds the application's callback in the watcher's record.  The swap is
 * never undone: libev stops a one-shot timer itself just before invoking
 * it.  Starting a watcher, ev_timer_again and ev_async_send capture the
 * context (ev_feed_event is not wrapped: libev feeds its own events from
 * the loop, where capturing would lose the right context).  The policy is
 * in shim/loops.c.
 */
#include <stdlib.h>

#include "real.h"
/* Until rule L moves behind hooks.h. */
#include "../shim/init.h"
#include "../shim/records.h"

static void carry__ev_run(struct ev_loop *loop, void *w, int revents)
{
    struct carry__cb *cb = carry__cb_of(w, false);
    carry__ev_cb *fn = (carry__ev_cb *)cb->fn;
    carry_ctx *prev __attribute__((cleanup(carry__scope_leave))) =
        carry__scope_enter(carry__cb_context(cb, cb->fd));
    fn(loop, w, revents);
}

/* Takes over w's callback (once) and captures the context.  Out of
 * memory, w keeps its own callback and runs with no context change. */
static void carry__ev_schedule(void *w, bool io)
{
    struct carry__ev_watcher *watcher = w;
    if (w == NULL || !carry__on(CARRY__RULE_LOOPS))
        return;
    struct carry__cb *cb = carry__cb_of(w, true);
    if (cb == NULL)
        return;
    if (watcher->cb != carry__ev_run) {
        cb->fn = (void (*)(void))watcher->cb;
        watcher->cb = carry__ev_run;
    }
    cb->fd = io ? watcher->fd : -1;
    cb->boundary = CARRY__B_LIBEV;
    /* Kept until the next capture: libev stops a one-shot timer before it
     * invokes it, so no stop can release the context. */
    cb->persist = true;
    carry__cb_capture(cb);
}

#define CARRY__EV_START(kind) \
    CARRY__EXPORT void ev_##kind##_start(struct ev_loop *loop, void *w) \
    { \
        carry__ev_schedule(w, __builtin_strcmp(#kind, "io") == 0); \
        CARRY__REAL(ev_##kind##_start)(loop, w); \
    }
CARRY__EV_WATCHER_STARTS(CARRY__EV_START)
#undef CARRY__EV_START

CARRY__EXPORT void ev_timer_again(struct ev_loop *loop, void *w)
{
    carry__ev_schedule(w, false);
    CARRY__REAL(ev_timer_again)(loop, w);
}

CARRY__EXPORT void ev_async_send(struct ev_loop *loop, void *w)
{
    struct carry__cb *cb = w != NULL ? carry__cb_of(w, false) : NULL;
    if (cb != NULL)
        carry__cb_capture(cb);
    CARRY__REAL(ev_async_send)(loop, w);
}

/* ev_once: a one-shot record of its own, freed when it runs. */
struct carry__ev_once {
    void (*fn)(int revents, void *arg);
    void *arg;
    carry_ctx *ctx;
};

static void carry__ev_once_run(int revents, void *p)
{
    struct carry__ev_once once = *(struct carry__ev_once *)p;
    free(p);
    carry__count_dispatch(CARRY__B_LIBEV, once.ctx);
    carry_ctx *prev __attribute__((cleanup(carry__scope_leave))) =
        carry__scope_enter(carry__ctx_localize(once.ctx));
    once.fn(revents, once.arg);
}

CARRY__EXPORT void ev_once(struct ev_loop *loop, int fd, int events, double timeout,
                           void (*fn)(int revents, void *arg), void *arg)
{
    struct carry__ev_once *once =
        fn != NULL && carry__on(CARRY__RULE_LOOPS) ? malloc(sizeof *once) : NULL;
    if (once == NULL) {
        CARRY__REAL(ev_once)(loop, fd, events, timeout, fn, arg);
        return;
    }
    *once = (struct carry__ev_once){fn, arg, carry__current()};
    carry__count_capture(CARRY__B_LIBEV, once->ctx);
    if (once->ctx != NULL)
        carry__ctx_ref(once->ctx);
    CARRY__REAL(ev_once)(loop, fd, events, timeout, carry__ev_once_run, once);
}

/* Rule D: running the loop ends the thread's context. */
CARRY__EXPORT int ev_run(struct ev_loop *loop, int flags)
{
    carry__hook_loop_enter();
    int rc = CARRY__REAL(ev_run)(loop, flags);
    carry__hook_loop_leave();
    return rc;
}
