/*
 * libevent 2.1: rule L.  event_assign (which event_new, event_set and
 * libevent's own bufferevents call through the PLT) swaps the callback for
 * a trampoline and a record; event_add and event_active capture the
 * context; the getters hand the application its own callback and argument
 * back.  The policy is in shim/loops.c.
 */
#include <stdlib.h>
#include <sys/time.h>

#include "real.h"
/* Until rule L moves behind hooks.h. */
#include "../shim/init.h"
#include "../shim/records.h"

#define CARRY__EV_SIGNAL 0x08
#define CARRY__EV_PERSIST 0x10

static void carry__levent_run(int fd, short what, void *p)
{
    struct carry__cb *cb = p;
    carry__levent_cb *fn = (carry__levent_cb *)cb->fn;
    void *arg = cb->arg; /* read first: the callback may free its event */
    carry_ctx *prev __attribute__((cleanup(carry__scope_leave))) =
        carry__scope_enter(carry__cb_context(cb, cb->fd));
    fn(fd, what, arg);
}

/* libevent 2.1's struct event begins with its struct event_callback: two
 * list links, flags, priority and closure, then the callback and its
 * argument.  carry reads those directly rather than through the getters,
 * which in EVENT_DEBUG_MODE abort on an event a finalizer has torn down,
 * while event_del and event_free accept one (libevent's own finalize
 * tests do this). */
struct carry__levent_head {
    void *next, *prev;
    short flags;
    uint8_t priority, closure;
    carry__levent_cb *callback;
    void *arg;
};

/* The record of an event carry assigned, or NULL. */
static struct carry__cb *carry__levent_cb_of(const struct event *ev)
{
    const struct carry__levent_head *head = (const void *)ev;
    if (ev == NULL || head->callback != carry__levent_run)
        return NULL;
    return head->arg;
}

CARRY__EXPORT int event_assign(struct event *ev, struct event_base *base, int fd, short events,
                               carry__levent_cb *fn, void *arg)
{
    struct carry__cb *cb =
        fn != NULL && ev != NULL && carry__on(CARRY__RULE_LOOPS) ? carry__cb_of(ev, true) : NULL;
    if (cb == NULL)
        return CARRY__REAL(event_assign)(ev, base, fd, events, fn, arg);
    /* libevent passes the event itself for this marker; the trampoline
     * must, since libevent now sees the record as the argument. */
    cb->arg = arg == CARRY__REAL(event_self_cbarg)() ? (void *)ev : arg;
    cb->fn = (void (*)(void))fn;
    cb->fd = events & CARRY__EV_SIGNAL ? -1 : fd;
    cb->persist = events & CARRY__EV_PERSIST;
    cb->boundary = CARRY__B_LIBEVENT;
    carry__cb_drop(cb); /* a re-assigned event starts afresh */
    int rc = CARRY__REAL(event_assign)(ev, base, fd, events, carry__levent_run, cb);
    if (rc != 0)
        carry__cb_forget(ev);
    return rc;
}

CARRY__EXPORT int event_add(struct event *ev, const struct timeval *timeout)
{
    struct carry__cb *cb = carry__levent_cb_of(ev);
    if (cb != NULL)
        carry__cb_capture(cb);
    return CARRY__REAL(event_add)(ev, timeout);
}

CARRY__EXPORT void event_active(struct event *ev, int res, short ncalls)
{
    struct carry__cb *cb = carry__levent_cb_of(ev);
    if (cb != NULL)
        carry__cb_capture(cb);
    CARRY__REAL(event_active)(ev, res, ncalls);
}

CARRY__EXPORT int event_del(struct event *ev)
{
    int rc = CARRY__REAL(event_del)(ev);
    struct carry__cb *cb = carry__levent_cb_of(ev);
    if (cb != NULL)
        carry__cb_drop(cb);
    return rc;
}

CARRY__EXPORT void event_free(struct event *ev)
{
    CARRY__REAL(event_free)(ev);
    carry__cb_forget(ev);
}

CARRY__EXPORT carry__levent_cb *event_get_callback(const struct event *ev)
{
    struct carry__cb *cb = carry__levent_cb_of(ev);
    return cb ? (carry__levent_cb *)cb->fn : CARRY__REAL(event_get_callback)(ev);
}

CARRY__EXPORT void *event_get_callback_arg(const struct event *ev)
{
    struct carry__cb *cb = carry__levent_cb_of(ev);
    return cb ? cb->arg : CARRY__REAL(event_get_callback_arg)(ev);
}

CARRY__EXPORT void event_get_assignment(const struct event *ev, struct event_base **base, int *fd,
                                        short *events, carry__levent_cb **fn, void **arg)
{
    struct carry__cb *cb = carry__levent_cb_of(ev);
    CARRY__REAL(event_get_assignment)(ev, base, fd, events, fn, arg);
    if (cb != NULL && fn != NULL)
        *fn = (carry__levent_cb *)cb->fn;
    if (cb != NULL && arg != NULL)
        *arg = cb->arg;
}

/* event_base_once: a one-shot record of its own, freed when it runs. */
static void carry__levent_once(int fd, short what, void *p)
{
    struct carry__cb once = *(struct carry__cb *)p;
    free(p);
    carry__levent_run(fd, what, &once);
}

CARRY__EXPORT int event_base_once(struct event_base *base, int fd, short events,
                                  carry__levent_cb *fn, void *arg, const struct timeval *timeout)
{
    struct carry__cb *cb = fn != NULL && carry__on(CARRY__RULE_LOOPS) ? calloc(1, sizeof *cb) : NULL;
    if (cb == NULL)
        return CARRY__REAL(event_base_once)(base, fd, events, fn, arg, timeout);
    cb->fn = (void (*)(void))fn;
    cb->arg = arg;
    cb->fd = events & CARRY__EV_SIGNAL ? -1 : fd;
    cb->boundary = CARRY__B_LIBEVENT;
    carry__cb_capture(cb);
    int rc = CARRY__REAL(event_base_once)(base, fd, events, carry__levent_once, cb, timeout);
    if (rc != 0) {
        carry__cb_drop(cb);
        free(cb);
    }
    return rc;
}

/*
 * Deferred callbacks: libevent's own queue, which runs bufferevent
 * callbacks later under BEV_OPT_DEFER_CALLBACKS (and evbuffer callbacks
 * and evdns replies).  libevent initialises and schedules them through the
 * PLT: the record is the argument, scheduling captures, and a run hands
 * the captured context over.
 */
static void carry__levent_deferred(void *evcb, void *p)
{
    struct carry__cb *cb = p;
    carry__levent_finalize_cb *fn = (carry__levent_finalize_cb *)cb->fn;
    void *arg = cb->arg;
    carry_ctx *prev __attribute__((cleanup(carry__scope_leave))) =
        carry__scope_enter(carry__cb_context(cb, -1));
    fn(evcb, arg);
}

CARRY__EXPORT void event_deferred_cb_init_(void *evcb, uint8_t priority,
                                           carry__levent_finalize_cb *fn, void *arg)
{
    struct carry__cb *cb =
        fn != NULL && evcb != NULL && carry__on(CARRY__RULE_LOOPS) ? carry__cb_of(evcb, true) : NULL;
    if (cb == NULL) {
        CARRY__REAL(event_deferred_cb_init_)(evcb, priority, fn, arg);
        return;
    }
    cb->fn = (void (*)(void))fn;
    cb->arg = arg;
    cb->fd = -1;
    cb->persist = false;
    cb->boundary = CARRY__B_LIBEVENT;
    carry__cb_drop(cb);
    CARRY__REAL(event_deferred_cb_init_)(evcb, priority, carry__levent_deferred, cb);
}

CARRY__EXPORT int event_deferred_cb_schedule_(struct event_base *base, void *evcb)
{
    struct carry__cb *cb = evcb != NULL ? carry__cb_of(evcb, false) : NULL;
    if (cb != NULL)
        carry__cb_capture(cb);
    return CARRY__REAL(event_deferred_cb_schedule_)(base, evcb);
}

/*
 * Finalizers (libevent 2.1's deferred teardown, which bufferevent_free
 * uses) get the argument of the event they run on, which for carry's
 * events is the record.  They run on one event of a group, chosen inside
 * libevent, so every member's record learns the finalizer, and the
 * trampoline gives the application its own argument back.
 */
static void carry__levent_finalize(void *evcb, void *arg)
{
    struct carry__cb *cb = carry__cb_of(evcb, false);
    carry__levent_finalize_cb *fn = (carry__levent_finalize_cb *)cb->fn2;
    if (arg == cb)
        arg = cb->arg;
    carry__cb_forget(evcb);
    fn(evcb, arg);
}

/* Makes every one of events[0..n) know fn; false when out of memory. */
static bool carry__levent_finalizing(void **events, int n, carry__levent_finalize_cb *fn)
{
    if (fn == NULL || events == NULL || n <= 0 || !carry__on(CARRY__RULE_LOOPS))
        return false;
    for (int i = 0; i < n; i++) {
        struct carry__cb *cb = carry__cb_of(events[i], true);
        if (cb == NULL)
            return false;
        cb->fn2 = (void (*)(void))fn;
        carry__cb_drop(cb);
    }
    return true;
}

/* A deferred callback's (carry's record is its argument too). */
CARRY__EXPORT int event_callback_finalize_(struct event_base *base, unsigned flags, void *evcb,
                                           carry__levent_finalize_cb *fn)
{
    void *one[1] = {evcb};
    bool ours = carry__levent_finalizing(one, 1, fn);
    return CARRY__REAL(event_callback_finalize_)(base, flags, evcb,
                                                 ours ? carry__levent_finalize : fn);
}

CARRY__EXPORT int event_callback_finalize_many_(struct event_base *base, int n, void **evcbs,
                                                carry__levent_finalize_cb *fn)
{
    bool ours = carry__levent_finalizing(evcbs, n, fn);
    return CARRY__REAL(event_callback_finalize_many_)(base, n, evcbs,
                                                      ours ? carry__levent_finalize : fn);
}

CARRY__EXPORT int event_finalize(unsigned flags, struct event *ev, carry__levent_finalize_cb *fn)
{
    void *one[1] = {ev};
    bool ours = carry__levent_finalizing(one, 1, fn);
    return CARRY__REAL(event_finalize)(flags, ev, ours ? carry__levent_finalize : fn);
}

CARRY__EXPORT int event_free_finalize(unsigned flags, struct event *ev,
                                      carry__levent_finalize_cb *fn)
{
    void *one[1] = {ev};
    bool ours = carry__levent_finalizing(one, 1, fn);
    return CARRY__REAL(event_free_finalize)(flags, ev, ours ? carry__levent_finalize : fn);
}

/* Rule D: running the loop ends the thread's context. */
CARRY__EXPORT int event_base_loop(struct event_base *base, int flags)
{
    carry__hook_loop_enter();
    int rc = CARRY__REAL(event_base_loop)(base, flags);
    carry__hook_loop_leave();
    return rc;
}

CARRY__EXPORT int event_base_dispatch(struct event_base *base)
{
    carry__hook_loop_enter();
    int rc = CARRY__REAL(event_base_dispatch)(base);
    carry__hook_loop_leave();
    return rc;
}
