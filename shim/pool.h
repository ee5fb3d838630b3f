/*
 * Pools of fixed-size objects: every object carry allocates per connection,
 * request, thread or registration (contexts, store chunks, thread starts,
 * callback records, epoll states) comes from one, and goes back to it.
 *
 * Memory is taken in slabs from carry's own mappings (never the program's
 * heap: see pool.c) and never given back, so a stale
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
    /* Of one object: a multiple of its alignment, which its slab's
     * mapping, page-aligned, gives every object. */
    size_t size;
    size_t link;               /* offset of the free-list link */
    size_t slab;               /* objects per slab */
    void (*init)(void *obj);   /* once per object, on a new zeroed slab; or NULL */
    bool kept;                 /* threads keep free objects of it (a hot path's) */
    carry__spin lock;
    void *free;
    _Atomic bool warned;
    struct carry__pool *next_pool; /* every pool, for fork and thread exit */
    _Atomic(void *) slabs;         /* the newest slab; each links to the one before, after its objects */
    /* 1 + its index in the per-thread lists, once it has one; 0 before it
     * is first used, or when there are more pools than lists. */
    _Atomic unsigned slot;
    _Atomic bool listed;
};

#define CARRY__POOL_INIT(type, link_field, per_slab, init_fn, keep, label) \
    { \
        .name = (label), .size = sizeof(type), \
        .link = offsetof(type, link_field), .slab = (per_slab), .init = (init_fn), \
        .kept = (keep), \
    }

#define CARRY__POOL_SLOTS 3 /* pools with per-thread lists (every thread's TLS holds them) */
#define CARRY__POOL_KEPT 32 /* objects a thread keeps per pool */

/* This thread's free objects of each kept pool and how many, and whether
 * it keeps any (see pool.c: only threads that take from the shared lists
 * do).  Small, since every new thread's TLS is cleared. */
extern __thread void *carry__pool_kept[CARRY__POOL_SLOTS]
    __attribute__((tls_model("initial-exec"), aligned(8)));
extern __thread uint8_t carry__pool_kept_count[CARRY__POOL_SLOTS]
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
        void *obj = carry__pool_kept[slot - 1];
        if (CARRY__LIKELY(obj != NULL)) {
            carry__pool_kept[slot - 1] =
                __atomic_load_n(carry__pool_link(pool, obj), __ATOMIC_RELAXED);
            carry__pool_kept_count[slot - 1]--;
            return obj;
        }
    }
    return carry__pool_take_shared(pool);
}

static inline void carry__pool_give(struct carry__pool *pool, void *obj)
{
    unsigned slot = atomic_load_explicit(&pool->slot, memory_order_relaxed);
    if (CARRY__LIKELY(slot != 0 && carry__pool_keeping) &&
        CARRY__LIKELY(carry__pool_kept_count[slot - 1] < CARRY__POOL_KEPT)) {
        __atomic_store_n(carry__pool_link(pool, obj), carry__pool_kept[slot - 1],
                         __ATOMIC_RELAXED);
        carry__pool_kept[slot - 1] = obj;
        carry__pool_kept_count[slot - 1]++;
        return;
    }
    carry__pool_give_shared(pool, obj);
}

/* Every pool's lock is held across fork, so the child sees whole lists. */
/* Calls fn(obj, arg) for every object the pool ever made, alive or free:
 * for a look over what is alive at exit.  Takes no lock (slabs are only
 * ever added); the caller tells the live objects from the others. */
void carry__pool_each(struct carry__pool *pool, void (*fn)(void *obj, void *arg), void *arg);

void carry__pools_atfork_prepare(void);
void carry__pools_atfork_release(void);

#endif /* CARRY_POOL_H */
