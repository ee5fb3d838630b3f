/*
 * Contexts: their memory, their ids and their references (context.c).
 * The store that hangs off a context is store.c's; the thread references
 * that code running in a context holds are current.h's.
 */
#ifndef CARRY_CONTEXT_H
#define CARRY_CONTEXT_H

#include <string.h>

#include "addr.h"
#include "common.h"
#include "self.h"
#include "span.h"
#include "stats.h"
#include "store.h"
#include "trace.h"

struct carry__owner;

/*
 * A context: a cache line of what every event touches, then one of its
 * trace identity (trace.h), which profilers read and exports use.  Memory
 * comes from a pool that never returns it to malloc, so a stale handle
 * points at a context-shaped object, never at freed memory.
 *
 * References are biased towards the thread that made the context (its
 * owner; see context.c): the owner's own scopes count in biased, a plain
 * field only it touches, and cost no atomic operation; every other
 * reference counts in refs.
 */
struct carry_ctx {
    /* Bits 0-31: internal references (threads, registrations, fds);
     * 32-61: handles the API returned; 62: queued to the owner (see
     * carry__ctx_put); 63: dead.  The context dies once refs and biased
     * are both zero. */
    _Atomic uint64_t refs;
    uint64_t id;
    struct carry__store store;
    /* A request's connection (rule R; holds a reference), whose keys the
     * request reads through; NULL for any other context. */
    carry_ctx *parent;
    /* The pool's link while dead, the owner queue's while queued; atomic
     * because another thread pushes it while the owner may read it. */
    _Atomic(struct carry_ctx *) next;
    _Atomic(struct carry__owner *) owner;   /* fixed for the context's life; NULL: none */
    carry__spin lock;                       /* serialises the store's writers */
    /* The owner's references: its thread's scopes, as deep as its stack
     * nests them, far below 2^16. */
    uint16_t biased;
    uint32_t seq;                           /* a request's number on its connection, from 1 */
    struct carry__trace trace;              /* rules W, O and P */
} __attribute__((aligned(64)));

#define CARRY__REF_INTERNAL UINT64_C(1)
#define CARRY__REF_HANDLE (UINT64_C(1) << 32)
#define CARRY__REF_COUNTS ((UINT64_C(1) << 62) - 1)
#define CARRY__REF_QUEUED (UINT64_C(1) << 62)
#define CARRY__REF_DEAD (UINT64_C(1) << 63)

/* A thread as the owner of the contexts it made.  Outlives its thread:
 * contexts keep pointing at it. */
struct carry__owner {
    /* Contexts other threads let go of, for the owner to settle; GONE
     * once its thread has ended. */
    _Atomic(carry_ctx *) queue;
    /* Its contexts alive; the top bit once its thread has ended.  The
     * owner is freed when both say so. */
    _Atomic uint64_t contexts;
    struct carry__owner *next_all, *next_ended;
};

#define CARRY__OWNER_GONE ((carry_ctx *)1)

static inline bool carry__ctx_alive(carry_ctx *ctx)
{
    return (atomic_load_explicit(&ctx->refs, memory_order_relaxed) & CARRY__REF_DEAD) == 0;
}

/* carry__ctx_get_missed: what a context with no link has of a key its
 * store does not hold (its derived keys; else NULL).
 *
 * key's value in ctx: its own, then its derived keys (trace_id and
 * span_id; a connection's or datagram's peer and local; a request's conn
 * and seq), written into its store the first time they are read so that
 * the pointer stays valid, then a request's connection's.  NULL if none. */
const char *carry__ctx_get_derived(carry_ctx *ctx, const char *key);

/* key's value in ctx, or NULL. */
const char *carry__ctx_get_missed(void *ctx, const char *key);

static inline const char *carry__ctx_get(carry_ctx *ctx, const char *key)
{
    if (CARRY__LIKELY(ctx->parent == NULL))
        return carry__store_get_else(&ctx->store, key, carry__ctx_get_missed, ctx);
    return carry__ctx_get_derived(ctx, key);
}

/* 0, or an errno value (store.h). */
static inline int carry__ctx_set(carry_ctx *ctx, const char *key, const char *value)
{
    return carry__store_set(&ctx->store, &ctx->lock, key, value);
}

/* The same with a value of value_len bytes (no NUL needed). */
static inline int carry__ctx_setn(carry_ctx *ctx, const char *key, const char *value,
                                  size_t value_len)
{
    return carry__store_setn(&ctx->store, &ctx->lock, key, value, value_len);
}

/* 0, or an errno value (store.h).  A derived key not read yet is unset
 * as any other. */
int carry__ctx_unset(carry_ctx *ctx, const char *key);

/* Keeps the addresses of a connection or datagram in ctx, a context
 * being made, for its keys peer and local (addr.h); out of memory, it has
 * neither. */
void carry__ctx_keep_addresses(carry_ctx *ctx, const struct sockaddr *peer, socklen_t peer_len,
                               const struct carry__sockaddr *local);

struct carry__http_head;

/* Keeps the keys of req's HTTP head (http.method, http.target,
 * request_id, traceparent) in req, a request being made, raw until they
 * are read; out of memory, it has none. */
void carry__ctx_keep_http(carry_ctx *req, const struct carry__http_head *h);

/* key, a derived key that ctx keeps raw (a connection's or datagram's
 * peer and local, a request's HTTP keys), while it was never read, set or
 * unset: its value (an address formatted in buf, of CARRY__ADDR_MAX
 * bytes); else NULL.  Writes nothing, takes no lock: safe in a signal
 * handler. */
const char *carry__ctx_unread(carry_ctx *ctx, const char *key, char *buf);

/* A new context with a fresh id, or NULL with errno ENOMEM.  owner (the
 * calling thread's, or NULL) owns it; with thread_ref its one reference
 * is the owner's own (biased), else it is an internal one in refs. */
carry_ctx *carry__ctx_make(struct carry__owner *owner, bool thread_ref);

/* A new owner for the calling thread, or NULL when out of memory. */
struct carry__owner *carry__owner_new(void);

/* The thread of owner ends: its contexts are no one's from now on. */
void carry__owner_end(struct carry__owner *owner);

/* Settles a context whose owner's references are gone: it dies if refs is
 * zero too. */
void carry__ctx_settle(carry_ctx *ctx);

/* Contexts other threads let go of while owner owned them: those that
 * have no reference left die now. */
void carry__owner_drain(struct carry__owner *owner);

static inline bool carry__owner_queued(struct carry__owner *owner)
{
    return atomic_load_explicit(&owner->queue, memory_order_relaxed) != NULL;
}

static inline void carry__ctx_ref(carry_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, CARRY__REF_INTERNAL, memory_order_relaxed);
}

/* A new reference in refs to ctx unless it has none left: true when
 * taken.  Safe on a context that may have died and been reused meanwhile
 * (contexts are never given back to malloc; a dead one is not revived):
 * the caller checks that what pointed at ctx still does. */
static inline bool carry__ctx_try_ref(carry_ctx *ctx)
{
    uint64_t refs = atomic_load_explicit(&ctx->refs, memory_order_relaxed);
    do {
        if ((refs & CARRY__REF_COUNTS) == 0)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&ctx->refs, &refs, refs + CARRY__REF_INTERNAL,
                                                    memory_order_acquire, memory_order_relaxed));
    return true;
}

/* Gives back a reference in refs (unit: CARRY__REF_INTERNAL or _HANDLE).
 * With the last one the context dies, unless another thread owns it:
 * that thread may be running in it, and decides.  False, and nothing
 * done, when no handle was out. */
bool carry__ctx_put(carry_ctx *ctx, uint64_t unit);

static inline void carry__ctx_unref(carry_ctx *ctx)
{
    carry__ctx_put(ctx, CARRY__REF_INTERNAL);
}

/* A shared slot holding a reference to a context (an fd's owner, a
 * registration's, a record's).  take: a new reference in refs to what it
 * holds, or NULL, safe against a concurrent store.  store: the slot holds
 * ctx (taking a reference; NULL: none), releasing what it held. */
typedef _Atomic(carry_ctx *) carry__slot;
carry_ctx *carry__slot_take(carry__slot *slot);
void carry__slot_store(carry__slot *slot, carry_ctx *ctx);

/* Converts one internal reference into an API handle and back. */
carry_ctx *carry__ctx_handle(carry_ctx *ctx);
void carry__ctx_release_handle(carry_ctx *ctx);

/* Rule O: ctx's span goes out once, at its death or at exit, whichever
 * claims its start first; the caller holds a reference. */
void carry__ctx_span_end(carry_ctx *ctx);

/* Calls fn(ctx, arg) for every context memory holds, alive or dead (the
 * caller tells them apart), without a lock: for a look at exit or in a
 * forked child. */
void carry__ctx_each(void (*fn)(void *ctx, void *arg), void *arg);

/* Contexts alive in this process (for tests and stats). */
uint64_t carry__ctx_live(void);

/* Whether this process image ever made a context (by a rule or through
 * the API), or its forking parent did before it.  Safe in a signal
 * handler. */
bool carry__ctx_ever(void);

/* The calling thread's next block of counter values. */
void carry__id_refill(struct carry__thread *self);

/* The next id, in *id, without taking it (see carry__id_take): a counter
 * (with the pid in its top 24 bits, so that a forked child's differ from
 * its parent's) through trace.h's keyed permutation.  False when the
 * thread's block must be refilled first or the counter's value is the one
 * that maps to 0, so that a caller that makes no call can leave both to
 * carry__id_next. */
static inline bool carry__id_peek(uint64_t *id)
{
    struct carry__thread *self = &carry__self;
    if (CARRY__UNLIKELY(self->id_next == self->id_limit))
        return false;
    *id = carry__trace_permute(self->id_next);
    return *id != 0;
}

static inline void carry__id_take(void)
{
    carry__self.id_next++;
}

/* A fresh, non-zero id, taken. */
static inline uint64_t carry__id_next(void)
{
    struct carry__thread *self = &carry__self;
    uint64_t id;
    while (!carry__id_peek(&id)) {
        if (self->id_next == self->id_limit)
            carry__id_refill(self);
        else
            carry__id_take(); /* the value that maps to 0, which is no id */
    }
    carry__id_take();
    return id;
}

/* refs of a context being renewed (carry__ctx_renew_begin): no count, so
 * that nothing takes a reference to it meanwhile, and above any other
 * state's value even when the fd's reference is given back meanwhile
 * (counted down from it), so that a forked child can tell one a thread of
 * its parent left half-renewed. */
#define CARRY__REF_RENEWING (CARRY__REF_DEAD | CARRY__REF_QUEUED)

/*
 * ctx, held by nothing but one thread reference of its owner's (the
 * caller's) and one internal reference, dies and is born again in its
 * place: its span is sent (only when rare, see carry__rare), its store
 * emptied (its memory in *arena, for the caller to free once the context
 * is whole again), id its new id, a new trace; the same owner, parent and
 * references.  Rule R's next request on a connection costs no allocation
 * and no reference moves this way.  False, and nothing done, when
 * anything else holds ctx.  Until carry__ctx_renew_end, nothing takes a
 * reference to ctx (carry__slot_take waits), so the caller completes it
 * unseen; it keeps it from profilers itself (the record changes).  Inline:
 * the common turn of a connection.
 */
static inline __attribute__((always_inline)) bool
carry__ctx_renew_begin(carry_ctx *ctx, struct carry__chunk **arena, bool rare, uint64_t id)
{
    uint64_t one = CARRY__REF_INTERNAL;
    if (ctx->biased != 1 ||
        !atomic_compare_exchange_strong_explicit(&ctx->refs, &one, CARRY__REF_RENEWING,
                                                 memory_order_acquire, memory_order_relaxed))
        return false;
    if (rare && carry__export_on() && carry__span_started(&ctx->trace) != 0)
        carry__ctx_span_end(ctx);
    /* Rare (keys likely, as an HTTP head's), a small store is kept. */
    *arena = rare ? carry__store_recycle(&ctx->store) : carry__store_detach(&ctx->store);
    ctx->id = id;
    carry__trace_start(&ctx->trace, id);
    return true;
}

/* The renewed ctx is whole: others may take it again.  A reference given
 * back meanwhile (the fd let go of it) stays given back. */
static inline __attribute__((always_inline)) void carry__ctx_renew_end(carry_ctx *ctx, bool rare)
{
    atomic_fetch_sub_explicit(&ctx->refs, CARRY__REF_RENEWING - CARRY__REF_INTERNAL,
                              memory_order_release);
    if (rare && carry__counting())
        carry__stats_context_born(carry__ctx_live());
}

void carry__ctx_atfork_prepare(void);
void carry__ctx_atfork_parent(void);
void carry__ctx_atfork_child(void);

#endif /* CARRY_CONTEXT_H */
