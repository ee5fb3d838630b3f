/*
 * Pools of fixed-size objects: every object carry allocates per connection,
 * request, thread or registration (contexts, store chunks, thread starts,
 * callback records, epoll states) comes from one, and goes back to it.
 *
 * Memory is taken from malloc in slabs and never given back, so a stale
 * pointer still points at an object of its pool's type, never at freed
 * memory (contexts rely on this: see context.c), and a process's memory
 * does not grow with churn beyond its peak.  A free object links to the
 * next through a pointer-sized field the pool names, which the object does
 * not use while free; its other fields keep what they held.
 *
 * This is the one place where carry runs out of memory: take returns NULL
 * (and says so once per pool), and every caller then passes the program's
 * call through without a context.  Slabs are allocated outside the pool's
 * lock, which is held across fork.  Each thread keeps a few free objects
 * of each pool, taken and given without a lock.
 */
#ifndef CARRY_POOL_H
#define CARRY_POOL_H

#include "common.h"
#include "lock.h"

struct carry__pool {
    const char *name;          /* for the out-of-memory warning */
    size_t size, align;        /* of one object; size is a multiple of align */
    size_t link;               /* offset of the free-list link */
    size_t slab;               /* objects per slab */
    void (*init)(void *obj);   /* once per object, on a new zeroed slab; or NULL */
    carry__spin lock;
    void *free;
    _Atomic bool warned;
    struct carry__pool *next_pool; /* every pool, for fork and thread exit */
    /* 1 + its index in the per-thread lists, once it has one; 0 before it
     * is first used, or when there are more pools than lists. */
    _Atomic unsigned slot;
    _Atomic bool listed;
};

#define CARRY__POOL_INIT(type, link_field, per_slab, init_fn, label) \
    { \
        .name = (label), .size = sizeof(type), .align = _Alignof(type), \
        .link = offsetof(type, link_field), .slab = (per_slab), .init = (init_fn), \
    }

#define CARRY__POOL_SLOTS 8 /* pools with per-thread lists */
#define CARRY__POOL_KEPT 32 /* objects a thread keeps per pool */

struct carry__pool_kept {
    void *free;
    uint32_t count;
};

/* This thread's free objects of each pool, and whether it keeps any (see
 * pool.c: only threads that take from the shared lists do). */
extern __thread struct carry__pool_kept carry__pool_kept[CARRY__POOL_SLOTS]
    __attribute__((tls_model("initial-exec")));
extern __thread bool carry__pool_keeping __attribute__((tls_model("initial-exec")));

static inline void **carry__pool_link(struct carry__pool *pool, void *obj)
{
    return (void **)((char *)obj + pool->link);
}

void *carry__pool_take_shared(struct carry__pool *pool);
void carry__pool_give_shared(struct carry__pool *pool, void *obj);

/* An object (zeroed only when its slab is new), or NULL when out of
 * memory.  errno is left as it was.  The link is read and written with
 * relaxed atomics: a context's link is also its owner queue's, which other
 * threads access atomically. */
static inline void *carry__pool_take(struct carry__pool *pool)
{
    unsigned slot = atomic_load_explicit(&pool->slot, memory_order_relaxed);
    if (CARRY__LIKELY(slot != 0)) {
        struct carry__pool_kept *kept = &carry__pool_kept[slot - 1];
        void *obj = kept->free;
        if (CARRY__LIKELY(obj != NULL)) {
            kept->free = __atomic_load_n(carry__pool_link(pool, obj), __ATOMIC_RELAXED);
            kept->count--;
            return obj;
        }
    }
    return carry__pool_take_shared(pool);
}

static inline void carry__pool_give(struct carry__pool *pool, void *obj)
{
    unsigned slot = atomic_load_explicit(&pool->slot, memory_order_relaxed);
    if (CARRY__LIKELY(slot != 0 && carry__pool_keeping)) {
        struct carry__pool_kept *kept = &carry__pool_kept[slot - 1];
        if (CARRY__LIKELY(kept->count < CARRY__POOL_KEPT)) {
            __atomic_store_n(carry__pool_link(pool, obj), kept->free, __ATOMIC_RELAXED);
            kept->free = obj;
            kept->count++;
            return;
        }
    }
    carry__pool_give_shared(pool, obj);
}

/* Every pool's lock is held across fork, so the child sees whole lists. */
void carry__pools_atfork_prepare(void);
void carry__pools_atfork_release(void);

#endif /* CARRY_POOL_H */
