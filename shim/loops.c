/*
 * Rule L: event-loop libraries.  A callback the application registers is
 * replaced by a trampoline and a record holding the application's callback,
 * its argument and the context captured when the work was scheduled; the
 * trampoline runs the callback in that context (or in the context its fd
 * owns, rule C) and restores the previous one after.
 *
 * Records are keyed by the address of the library object they belong to
 * (a struct event, a uv handle, an ev watcher), so that re-initialising an
 * object reuses its record, and an object freed without telling the
 * library leaves at most one record behind, which the next object at that
 * address takes over: memory does not grow with connection churn.
 *
 * A forgotten record goes to a free list (linked through its arg) rather
 * than back to malloc: libuv's requests make and forget one per request,
 * and the list keeps that to a lock round each way.  The list never holds
 * more records than were alive at once.
 */
#include <stdlib.h>

#include "fd.h"
#include "lock.h"
#include "records.h"

/*
 * The table: open addressing with linear probing, keyed by address.
 * Writers hold the lock.  Lookups, on every callback dispatch, take no
 * lock: a sequence count, odd while a writer moves entries (deletion,
 * growth), tells them to look again.  An insertion moves nothing and
 * leaves the count alone, so a lookup returns only a record it saw with
 * its key (carry__cb_probe).  This is safe because nothing a lookup may
 * touch is ever freed: records are recycled through the free list, and a
 * table outgrown stays allocated (all of them together are less than
 * twice the current one).
 */
struct carry__cbs_table {
    size_t cap;
    struct carry__cbs_table *outgrown;
    _Atomic(struct carry__cb *) slot[];
};

static carry__spin carry__cbs_lock;
static _Atomic uint32_t carry__cbs_seq;
static _Atomic(struct carry__cbs_table *) carry__cbs;
static size_t carry__cbs_count, carry__cbs_peak;
static struct carry__cb *carry__cbs_free;

static size_t carry__cb_slot(const void *key, size_t cap)
{
    uintptr_t k = (uintptr_t)key;
    k ^= k >> 17;
    k *= UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(k >> 20) & (cap - 1);
}

static const void *carry__cb_key(struct carry__cb *cb)
{
    return __atomic_load_n(&cb->key, __ATOMIC_ACQUIRE);
}

/* The index of key's record in t, or of the empty slot where it would go. */
static size_t carry__cb_find(struct carry__cbs_table *t, const void *key)
{
    size_t i = carry__cb_slot(key, t->cap);
    struct carry__cb *cb;
    while ((cb = atomic_load_explicit(&t->slot[i], memory_order_acquire)) != NULL &&
           carry__cb_key(cb) != key)
        i = (i + 1) & (t->cap - 1);
    return i;
}

/* key's record in t, or NULL, for a lookup without the lock: the record
 * the probe saw with key's key, never what the slot it stopped at holds
 * when read again.  A writer may fill that empty slot meanwhile with the
 * record of another key, and an insertion leaves the sequence count
 * alone: a lookup that read the slot again would return that record as
 * key's (so libuv's pool threads, looking up the loop's internal async
 * handle, which has no record, in uv_async_send, would capture into a
 * request the loop thread had just scheduled, and clear its context). */
static struct carry__cb *carry__cb_probe(struct carry__cbs_table *t, const void *key)
{
    size_t i = carry__cb_slot(key, t->cap);
    struct carry__cb *cb;
    while ((cb = atomic_load_explicit(&t->slot[i], memory_order_acquire)) != NULL) {
        if (carry__cb_key(cb) == key)
            return cb;
        i = (i + 1) & (t->cap - 1);
    }
    return NULL;
}

/* Entries are about to move: lookups meanwhile must look again.  The
 * moves are release stores and lookups read with acquire loads, so a
 * lookup that sees a move sees this count too (no fence: TSan has none). */
static void carry__cbs_moving(void)
{
    uint32_t seq = atomic_load_explicit(&carry__cbs_seq, memory_order_relaxed);
    atomic_store_explicit(&carry__cbs_seq, seq + 1, memory_order_relaxed);
}

static void carry__cbs_moved(void)
{
    uint32_t seq = atomic_load_explicit(&carry__cbs_seq, memory_order_relaxed);
    atomic_store_explicit(&carry__cbs_seq, seq + 1, memory_order_release);
}

static bool carry__cbs_full(struct carry__cbs_table *t)
{
    return t == NULL || (carry__cbs_count + 1) * 2 > t->cap;
}

/* Grows the table to twice its size; call without the lock (allocation
 * never happens under carry's locks, see context.c). */
static bool carry__cbs_grow(void)
{
    carry__spin_lock(&carry__cbs_lock);
    struct carry__cbs_table *old = atomic_load_explicit(&carry__cbs, memory_order_relaxed);
    size_t want = old ? old->cap * 2 : 256;
    carry__spin_unlock(&carry__cbs_lock);
    struct carry__cbs_table *t = calloc(1, sizeof *t + want * sizeof t->slot[0]);
    if (t == NULL)
        return false;
    t->cap = want;
    carry__spin_lock(&carry__cbs_lock);
    old = atomic_load_explicit(&carry__cbs, memory_order_relaxed);
    if (carry__cbs_full(old) && (old == NULL || want > old->cap)) {
        for (size_t i = 0; old != NULL && i < old->cap; i++) {
            struct carry__cb *cb = atomic_load_explicit(&old->slot[i], memory_order_relaxed);
            if (cb != NULL)
                atomic_store_explicit(&t->slot[carry__cb_find(t, carry__cb_key(cb))], cb,
                                      memory_order_release);
        }
        t->outgrown = old;
        carry__cbs_moving();
        atomic_store_explicit(&carry__cbs, t, memory_order_release);
        carry__cbs_moved();
        t = NULL;
    }
    carry__spin_unlock(&carry__cbs_lock);
    free(t);
    return true;
}

void carry__cb_counts(size_t *alive, size_t *peak)
{
    carry__spin_lock(&carry__cbs_lock);
    *alive = carry__cbs_count;
    *peak = carry__cbs_peak;
    carry__spin_unlock(&carry__cbs_lock);
}

void carry__cbs_atfork_prepare(void)
{
    carry__spin_lock(&carry__cbs_lock);
}

void carry__cbs_atfork_release(void)
{
    carry__spin_unlock(&carry__cbs_lock);
}

/* A lookup without the lock. */
static struct carry__cb *carry__cb_lookup(const void *key)
{
    for (;;) {
        uint32_t seq = atomic_load_explicit(&carry__cbs_seq, memory_order_acquire);
        struct carry__cbs_table *t = atomic_load_explicit(&carry__cbs, memory_order_acquire);
        struct carry__cb *cb = t ? carry__cb_probe(t, key) : NULL;
        if ((seq & 1) == 0 && atomic_load_explicit(&carry__cbs_seq, memory_order_relaxed) == seq)
            return cb;
    }
}

/* Call with the lock held. */
static void carry__cb_recycle(struct carry__cb *cb)
{
    cb->arg = carry__cbs_free;
    carry__cbs_free = cb;
}

#define CARRY__CB_BATCH 64

/* A record for key, from the free list, published at index i of t; call
 * with the lock held. */
static struct carry__cb *carry__cb_reuse(struct carry__cbs_table *t, const void *key, size_t i)
{
    struct carry__cb *cb = carry__cbs_free;
    carry__cbs_free = cb->arg;
    cb->fn = cb->fn2 = NULL;
    cb->arg = NULL;
    cb->fd = -1;
    cb->persist = false;
    __atomic_store_n(&cb->key, key, __ATOMIC_RELEASE);
    atomic_store_explicit(&t->slot[i], cb, memory_order_release);
    if (++carry__cbs_count > carry__cbs_peak)
        carry__cbs_peak = carry__cbs_count;
    return cb;
}

struct carry__cb *carry__cb_of(const void *key, bool create)
{
    if (!create)
        return carry__cb_lookup(key);
    for (;;) {
        carry__spin_lock(&carry__cbs_lock);
        struct carry__cbs_table *t = atomic_load_explicit(&carry__cbs, memory_order_relaxed);
        bool full = carry__cbs_full(t);
        struct carry__cb *cb = NULL;
        if (t != NULL) {
            size_t i = carry__cb_find(t, key);
            cb = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
            if (cb == NULL && !full && carry__cbs_free != NULL)
                cb = carry__cb_reuse(t, key, i);
        }
        bool empty = carry__cbs_free == NULL;
        carry__spin_unlock(&carry__cbs_lock);
        if (cb != NULL)
            return cb;
        if (full && !carry__cbs_grow())
            return NULL; /* out of memory: the caller passes the callback through */
        if (empty) {
            /* Records come in batches: no per-record malloc overhead. */
            int saved_errno = errno;
            struct carry__cb *batch = calloc(CARRY__CB_BATCH, sizeof *batch);
            errno = saved_errno;
            if (batch == NULL)
                return NULL;
            carry__spin_lock(&carry__cbs_lock);
            for (size_t i = 0; i < CARRY__CB_BATCH; i++)
                carry__cb_recycle(&batch[i]);
            carry__spin_unlock(&carry__cbs_lock);
        }
    }
}

void carry__cb_forget(const void *key)
{
    carry__spin_lock(&carry__cbs_lock);
    struct carry__cbs_table *t = atomic_load_explicit(&carry__cbs, memory_order_relaxed);
    struct carry__cb *cb = NULL;
    if (t != NULL) {
        size_t i = carry__cb_find(t, key);
        cb = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (cb != NULL) {
            /* Backward-shift deletion keeps every probe run unbroken. */
            carry__cbs_moving();
            atomic_store_explicit(&t->slot[i], NULL, memory_order_release);
            carry__cbs_count--;
            for (size_t j = (i + 1) & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
                struct carry__cb *moved = atomic_load_explicit(&t->slot[j], memory_order_relaxed);
                if (moved == NULL)
                    break;
                atomic_store_explicit(&t->slot[j], NULL, memory_order_release);
                atomic_store_explicit(&t->slot[carry__cb_find(t, carry__cb_key(moved))], moved,
                                      memory_order_release);
            }
            __atomic_store_n(&cb->key, NULL, __ATOMIC_RELEASE);
            carry__cbs_moved();
            /* A context is released outside the lock (it may go back to
             * the context pool, which has a lock of its own). */
            if (atomic_load_explicit(&cb->ctx, memory_order_relaxed) == NULL) {
                carry__cb_recycle(cb);
                cb = NULL;
            }
        }
    }
    carry__spin_unlock(&carry__cbs_lock);
    if (cb != NULL) {
        int saved_errno = errno;
        carry__slot_store(&cb->ctx, NULL);
        errno = saved_errno;
        carry__spin_lock(&carry__cbs_lock);
        carry__cb_recycle(cb);
        carry__spin_unlock(&carry__cbs_lock);
    }
}

void carry__cb_capture(struct carry__cb *cb)
{
    carry_ctx *current = carry__current();
    carry__count_capture(cb->boundary, current);
    if (atomic_load_explicit(&cb->ctx, memory_order_relaxed) != current)
        carry__slot_store(&cb->ctx, current);
}

void carry__cb_drop(struct carry__cb *cb)
{
    if (atomic_load_explicit(&cb->ctx, memory_order_relaxed) != NULL)
        carry__slot_store(&cb->ctx, NULL);
}

carry_ctx *carry__cb_context(struct carry__cb *cb, int fd)
{
    carry__slot *slot = fd >= 0 ? carry__fd_slot_or(fd, &cb->ctx) : &cb->ctx;
    carry_ctx *ctx;
    /* A one-shot callback hands its reference to the run: a record whose
     * work is done keeps no context alive. */
    if (slot == &cb->ctx && !cb->persist)
        ctx = carry__ctx_localize(atomic_exchange_explicit(&cb->ctx, NULL, memory_order_acq_rel));
    else
        ctx = carry__slot_take_local(slot);
    carry__count_dispatch(cb->boundary, ctx);
    return ctx;
}
