/*
 * Rule L: records of the callbacks the application gives an event-loop
 * library (records.c).  A record holds the application's callbacks (the
 * struct carry__cb of hooks.h) and the context captured when their work
 * was scheduled; the trampolines of interpose/ run the callbacks in that
 * context, or in the one their fd owns (rule C), and restore the previous
 * one after.
 *
 * Records are keyed by the address of the library object they belong to
 * (a struct event, a uv handle or request, an ev watcher), so that
 * re-initialising an object reuses its record, and an object freed
 * without telling the library leaves at most one record behind, which the
 * next object at that address takes over: memory does not grow with
 * connection churn.  A one-shot callback that belongs to no object the
 * application sees (event_base_once, ev_once) has a record in no table,
 * and so has a libuv request where the request has room for it (records.c:
 * one submission at a time, its record in the request while libuv holds
 * it).  Records come from a pool (pool.h).
 */
#ifndef CARRY_RECORDS_H
#define CARRY_RECORDS_H

#include "calls.h"
#include "cbtable.h"
#include "common.h"
#include "context.h"
#include "current.h"
#include "fd.h"
#include "stats.h"

struct carry__record {
    struct carry__cb cb;               /* first: hooks.h gives out its address */
    struct carry__cbtable_entry entry; /* its object; key NULL: in no table */
    carry__slot ctx;                   /* captured when the work was scheduled */
    int fd;                            /* the fd its object watches (rule C), or -1 */
    _Atomic uint32_t sends;            /* an async's sends since its callback last ran */
    uint8_t boundary;                  /* the library, for CARRY_STATS */
    bool persist;                      /* keeps its context when a callback runs */
    bool timer;                        /* a libuv timer (carry__record_schedule) */
    _Atomic bool async;                /* sent (carry__record_send): sends merge into a run */
    _Atomic bool mixed;                /* sends of different contexts merged */
};

static inline struct carry__record *carry__record_from(struct carry__cb *cb)
{
    _Static_assert(offsetof(struct carry__record, cb) == 0, "the record starts with its cb");
    return (struct carry__record *)cb;
}

extern struct carry__cbtable carry__records;

/* The record of a table entry (NULL: none). */
static inline struct carry__record *carry__record_entry(struct carry__cbtable_entry *e)
{
    return e != NULL ? (struct carry__record *)((char *)e - offsetof(struct carry__record, entry))
                     : NULL;
}

/* obj's record, or NULL; takes no lock (a lookup on every dispatch). */
static inline struct carry__record *carry__record_find(const void *obj)
{
    return carry__record_entry(carry__cbtable_get(&carry__records, obj));
}

/* obj's record, made if need be; NULL when out of memory.  fresh: obj
 * most likely has none (a libuv request), which the table's insertion
 * finds out without a look-up before it. */
struct carry__record *carry__record_of(const void *obj, bool fresh);

/* The entry points of hooks.h of the same names, once rule L is on. */
struct carry__record *carry__record_assign(const void *obj, const struct carry__cb *cbs, int fd,
                                           unsigned flags);
struct carry__record *carry__record_start(const void *obj, const struct carry__cb *cbs, int fd,
                                          unsigned flags, const void *caller);
bool carry__record_closing(const void *obj, void (*close)(void));
bool carry__record_finalizing(void *const *objs, int n, void (*finalize)(void));
struct carry__record *carry__record_once(const struct carry__cb *cbs, int fd, unsigned flags);

/* Is code the library's own (CARRY__CB_LIBEV or _LIBUV: its loop calling
 * back into its own API, libuv's internal handles' callbacks)? */
bool carry__library_code(unsigned library, const void *code);

/* Is code in libuv's shared object (a file named libuv.so...)?  Unlike
 * carry__library_code, for calls made in any program, after fork and in
 * signal handlers: it looks no symbol up (a dlsym that fails leaves its
 * error message for the next dl call to free, maybe in carry's crash
 * report's handler) and takes no lock. */
bool carry__libuv_object(const void *code);

/* The work was scheduled: the record captures the current context. */
static inline void carry__record_capture(struct carry__record *r)
{
    carry_ctx *current = carry__current();
    carry__count_capture(r->boundary, current);
    if (atomic_load_explicit(&r->ctx, memory_order_relaxed) != current)
        carry__slot_store(&r->ctx, current);
}

/* The same by a call that returns to caller.  libuv re-arms a repeating
 * timer from its loop (uv_timer_again, and uv_timer_start from there,
 * through the PLT): that is not the application scheduling, so the timer
 * keeps the context it was started in. */
static inline void carry__record_schedule(struct carry__record *r, const void *caller)
{
    if (r->timer && carry__library_code(CARRY__CB_LIBUV, caller))
        return;
    carry__record_capture(r);
}

/* An async is sent (uv_async_send, ev_async_send; any thread): the
 * library merges the sends made before its callback runs into one run,
 * which runs in their context if they were all made in one, else in
 * none (carry__record_context_async). */
void carry__record_send(struct carry__record *r);
carry_ctx *carry__record_context_async(struct carry__record *r);

/* The work was unscheduled: the record lets go of its context. */
void carry__record_drop(struct carry__record *r);

/* The entry point of hooks.h of the same name, for obj's record if it
 * has one. */
void carry__record_stop(const void *obj, unsigned library, const void *caller);

/* obj is gone: its record goes. */
void carry__record_forget(const void *obj);

/* A libuv request's record (see records.c: in the request itself where
 * libuv leaves room), while libuv holds the request; and the same as
 * carry__record_forget for a request libuv refused. */
struct carry__record *carry__record_of_request(const void *req);
void carry__record_forget_request(const void *req);

/* r, obj's record, leaves its table but stays, for obj's callbacks that
 * may still run (carry__record_release lets go of it then): an object
 * made at obj's address from now on gets a record of its own. */
void carry__record_detach(const void *obj, struct carry__record *r);

/* The record's object is done with it: out of its table, or (one-shot)
 * back to the pool. */
void carry__record_release(struct carry__record *r);

/* The context a callback of r runs in, as a thread reference: what its fd
 * owns, else what was captured.  A record that does not persist hands its
 * reference to the run: a record whose work is done keeps no context
 * alive. */
__attribute__((always_inline)) static inline carry_ctx *
carry__record_context(struct carry__record *r)
{
    if (CARRY__UNLIKELY(atomic_load_explicit(&r->async, memory_order_relaxed)))
        return carry__record_context_async(r);
    carry__slot *slot = r->fd >= 0 ? carry__fd_slot_or(r->fd, &r->ctx) : &r->ctx;
    carry_ctx *ctx;
    if (slot == &r->ctx && !r->persist)
        ctx = carry__ctx_localize(atomic_exchange_explicit(&r->ctx, NULL, memory_order_acq_rel));
    else
        ctx = carry__slot_take_local(slot);
    carry__count_dispatch(r->boundary, ctx);
    return ctx;
}

/* A callback of r runs: returns the context to give carry__record_leave. */
__attribute__((always_inline)) static inline carry_ctx *
carry__record_enter(struct carry__record *r)
{
    return carry__scope_enter(carry__record_context(r));
}

/* A callback of r runs in ctx, a thread reference the scope takes over,
 * which the core chose for it over the record's. */
carry_ctx *carry__record_enter_in(struct carry__record *r, carry_ctx *ctx);

/* A libuv listener's callback runs, just after libuv accepted. */
carry_ctx *carry__record_enter_accepted(struct carry__record *r);

/* The last callback of r runs: its callbacks are copied to *copy and the
 * record goes (carry__record_release) before it runs. */
carry_ctx *carry__record_enter_last(struct carry__record *r, struct carry__cb *copy);

/* The same for obj's record, which leaves the table in the same look-up. */
carry_ctx *carry__record_enter_last_of(const void *obj, struct carry__cb *copy);

/* The same for a libuv request's. */
carry_ctx *carry__record_enter_last_request(const void *req, struct carry__cb *copy);

static inline void carry__record_leave(carry_ctx **prev)
{
    carry__scope_leave(prev);
}

/* Records in the table now and at most (CARRY_STATS). */
void carry__records_counts(size_t *alive, size_t *peak);

void carry__records_atfork_prepare(void);
void carry__records_atfork_release(void);

#endif /* CARRY_RECORDS_H */
