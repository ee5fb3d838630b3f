/*
 * libevent 2.1: rule L.  event_assign (which event_new, event_set and
 * libevent's own bufferevents call through the PLT) hands libevent the
 * core's trampoline (carry__hook_levent_run), with carry's record as its
 * argument; event_add and
 * event_active schedule; the getters hand the application its own callback
 * and argument back.  What is captured when is the core's (shim/records.c).
 */
#include <sys/time.h>

#include "real.h"

/* The record of an event carry assigned, or NULL.  Read from the event
 * itself rather than through the getters, which in EVENT_DEBUG_MODE abort
 * on an event a finalizer has torn down, while event_del and event_free
 * accept one (libevent's own finalize tests do this). */
static struct carry__cb *carry__levent_cb_of(const struct event *ev)
{
    const struct carry__levent_head *head = (const void *)ev;
    if (ev == NULL || head->callback != carry__hook_levent_run)
        return NULL;
    return head->arg;
}

/* What event_assign and event_base_once watch: a signal event's fd is its
 * signal number. */
static int carry__levent_fd(int fd, short events)
{
    return events & CARRY__EV_SIGNAL ? -1 : fd;
}

CARRY__EXPORT int event_assign(struct event *ev, struct event_base *base, int fd, short events,
                               carry__levent_cb *fn, void *arg)
{
    /* libevent passes the event itself for this marker; the trampoline
     * must, since libevent sees the record as the argument. */
    void *(*self_cbarg)(void) = CARRY__REAL(event_self_cbarg);
    bool self = self_cbarg != NULL && arg == self_cbarg();
    struct carry__cb given = {.fn = (void (*)(void))fn, .arg = self ? (void *)ev : arg};
    unsigned flags = CARRY__CB_LIBEVENT | (events & CARRY__EV_PERSIST ? CARRY__CB_PERSIST : 0);
    struct carry__cb *cb = carry__hook_cb_assign(ev, &given, carry__levent_fd(fd, events), flags);
    if (cb == NULL)
        return CARRY__REAL(event_assign)(ev, base, fd, events, fn, arg);
    int rc = CARRY__REAL(event_assign)(ev, base, fd, events, carry__hook_levent_run, cb);
    if (rc != 0)
        carry__hook_cb_forget(ev);
    return rc;
}

CARRY__EXPORT int event_add(struct event *ev, const struct timeval *timeout)
{
    struct carry__cb *cb = carry__levent_cb_of(ev);
    if (cb != NULL)
        carry__hook_cb_capture(cb);
    return CARRY__REAL(event_add)(ev, timeout);
}

CARRY__EXPORT void event_active(struct event *ev, int res, short ncalls)
{
    struct carry__cb *cb = carry__levent_cb_of(ev);
    if (cb != NULL)
        carry__hook_cb_capture(cb);
    CARRY__REAL(event_active)(ev, res, ncalls);
}

CARRY__EXPORT int event_del(struct event *ev)
{
    int rc = CARRY__REAL(event_del)(ev);
    struct carry__cb *cb = carry__levent_cb_of(ev);
    if (cb != NULL)
        carry__hook_cb_drop(cb);
    return rc;
}

/* The record leaves the table before the event is freed (another thread
 * may make an event at its address at once) and goes after (a callback of
 * the event may run in another thread until event_free returns). */
CARRY__EXPORT void event_free(struct event *ev)
{
    struct carry__cb *cb = carry__levent_cb_of(ev);
    if (cb != NULL)
        carry__hook_cb_detach(ev, cb);
    CARRY__REAL(event_free)(ev);
    if (cb != NULL)
        carry__hook_cb_release(cb);
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

/* event_base_once: a one-shot record, which goes when it runs. */
static void carry__levent_once(int fd, short what, void *p)
{
    struct carry__cb once;
    CARRY__CB_SCOPE(carry__hook_cb_enter_last(p, &once));
    ((carry__levent_cb *)once.fn)(fd, what, once.arg);
}

CARRY__EXPORT int event_base_once(struct event_base *base, int fd, short events,
                                  carry__levent_cb *fn, void *arg, const struct timeval *timeout)
{
    struct carry__cb given = {.fn = (void (*)(void))fn, .arg = arg};
    struct carry__cb *cb =
        carry__hook_cb_once(&given, carry__levent_fd(fd, events), CARRY__CB_LIBEVENT);
    if (cb == NULL)
        return CARRY__REAL(event_base_once)(base, fd, events, fn, arg, timeout);
    int rc = CARRY__REAL(event_base_once)(base, fd, events, carry__levent_once, cb, timeout);
    if (rc != 0)
        carry__hook_cb_once_refused(cb);
    return rc;
}

/*
 * Deferred callbacks: libevent's own queue, which runs bufferevent
 * callbacks later under BEV_OPT_DEFER_CALLBACKS (and evbuffer callbacks
 * and evdns replies).  libevent initialises and schedules them through the
 * PLT: the record is the argument, as for events.
 */
static void carry__levent_deferred(void *evcb, void *p)
{
    struct carry__cb *cb = p;
    carry__levent_finalize_cb *fn = (carry__levent_finalize_cb *)cb->fn;
    void *arg = cb->arg;
    CARRY__CB_SCOPE(carry__hook_cb_enter(cb));
    fn(evcb, arg);
}

CARRY__EXPORT void event_deferred_cb_init_(void *evcb, uint8_t priority,
                                           carry__levent_finalize_cb *fn, void *arg)
{
    struct carry__cb given = {.fn = (void (*)(void))fn, .arg = arg};
    struct carry__cb *cb = carry__hook_cb_assign(evcb, &given, -1, CARRY__CB_LIBEVENT);
    if (cb == NULL)
        CARRY__REAL(event_deferred_cb_init_)(evcb, priority, fn, arg);
    else
        CARRY__REAL(event_deferred_cb_init_)(evcb, priority, carry__levent_deferred, cb);
}

CARRY__EXPORT int event_deferred_cb_schedule_(struct event_base *base, void *evcb)
{
    carry__hook_cb_schedule(evcb, __builtin_return_address(0));
    return CARRY__REAL(event_deferred_cb_schedule_)(base, evcb);
}

/*
 * Finalizers (libevent 2.1's deferred teardown, which bufferevent_free
 * uses) get the argument of the event they run on, which for carry's
 * events is the record: the trampoline gives the application its own
 * argument back.
 */
static void carry__levent_finalize(void *evcb, void *arg)
{
    struct carry__cb *cb = carry__hook_cb_find(evcb);
    struct carry__cb given = *cb;
    carry__hook_cb_forget(evcb);
    ((carry__levent_finalize_cb *)given.finalize)(evcb, arg == cb ? given.arg : arg);
}

/* The finalizer to give libevent for events[0..n). */
static carry__levent_finalize_cb *carry__levent_finalizer(void **events, int n,
                                                          carry__levent_finalize_cb *fn)
{
    return carry__hook_cb_finalizing(events, n, (void (*)(void))fn) ? carry__levent_finalize : fn;
}

/* A deferred callback's (carry's record is its argument too). */
CARRY__EXPORT int event_callback_finalize_(struct event_base *base, unsigned flags, void *evcb,
                                           carry__levent_finalize_cb *fn)
{
    return CARRY__REAL(event_callback_finalize_)(base, flags, evcb,
                                                 carry__levent_finalizer(&evcb, 1, fn));
}

CARRY__EXPORT int event_callback_finalize_many_(struct event_base *base, int n, void **evcbs,
                                                carry__levent_finalize_cb *fn)
{
    return CARRY__REAL(event_callback_finalize_many_)(base, n, evcbs,
                                                      carry__levent_finalizer(evcbs, n, fn));
}

CARRY__EXPORT int event_finalize(unsigned flags, struct event *ev, carry__levent_finalize_cb *fn)
{
    void *one[1] = {ev};
    return CARRY__REAL(event_finalize)(flags, ev, carry__levent_finalizer(one, 1, fn));
}

CARRY__EXPORT int event_free_finalize(unsigned flags, struct event *ev,
                                      carry__levent_finalize_cb *fn)
{
    void *one[1] = {ev};
    return CARRY__REAL(event_free_finalize)(flags, ev, carry__levent_finalizer(one, 1, fn));
}

/* Rule D: running the loop ends the thread's context (a loop nested in
 * a callback gives the callback its context back). */
CARRY__EXPORT int event_base_loop(struct event_base *base, int flags)
{
    carry__loop_scope scope = carry__hook_loop_enter();
    int rc = CARRY__REAL(event_base_loop)(base, flags);
    carry__hook_loop_leave(scope);
    return rc;
}

CARRY__EXPORT int event_base_dispatch(struct event_base *base)
{
    carry__loop_scope scope = carry__hook_loop_enter();
    int rc = CARRY__REAL(event_base_dispatch)(base);
    carry__hook_loop_leave(scope);
    return rc;
}
