/*
 * Pools of fixed-size objects (pool.h).  Each thread keeps a short list of
 * free objects per pool, so that the common take and give, on a thread that
 * makes and ends contexts and records in turn, take no lock; the lists go
 * back to their pools when the thread ends.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pool.h"

#define CARRY__POOL_SLOTS 8   /* pools with per-thread lists; others use the lock only */
#define CARRY__POOL_KEPT 32   /* objects a thread keeps per pool */

static carry__spin carry__pools_lock;
static struct carry__pool *carry__pools;
static unsigned carry__pools_listed;

struct carry__pool_cache {
    void *free;
    uint32_t count;
};

static __thread struct carry__pool_cache carry__cache[CARRY__POOL_SLOTS]
    __attribute__((tls_model("initial-exec")));
static __thread bool carry__cache_armed __attribute__((tls_model("initial-exec")));
static pthread_key_t carry__cache_key;
static pthread_once_t carry__cache_key_once = PTHREAD_ONCE_INIT;
static bool carry__cache_key_ok;

static void **carry__pool_link(struct carry__pool *pool, void *obj)
{
    return (void **)((char *)obj + pool->link);
}

/* The link is written and read with relaxed atomics: a context's link
 * field is also its owner queue's link, which other threads access
 * atomically. */
static void *carry__pool_next(struct carry__pool *pool, void *obj)
{
    return __atomic_load_n(carry__pool_link(pool, obj), __ATOMIC_RELAXED);
}

static void carry__pool_set_next(struct carry__pool *pool, void *obj, void *next)
{
    __atomic_store_n(carry__pool_link(pool, obj), next, __ATOMIC_RELAXED);
}

static void carry__pool_list(struct carry__pool *pool)
{
    carry__spin_lock(&carry__pools_lock);
    if (!atomic_load_explicit(&pool->listed, memory_order_relaxed)) {
        pool->next_pool = carry__pools;
        carry__pools = pool;
        pool->slot = carry__pools_listed++;
        atomic_store_explicit(&pool->listed, true, memory_order_release);
    }
    carry__spin_unlock(&carry__pools_lock);
}

/* A new slab, outside the lock: a malloc that takes its own locks around
 * fork (ASan's, jemalloc's) would deadlock against the atfork handler,
 * which holds the pool's lock. */
static bool carry__pool_grow(struct carry__pool *pool)
{
    int saved_errno = errno;
    char *slab = aligned_alloc(pool->align < sizeof(void *) ? sizeof(void *) : pool->align,
                               pool->size * pool->slab);
    errno = saved_errno;
    if (slab == NULL) {
        if (!atomic_exchange_explicit(&pool->warned, true, memory_order_relaxed))
            carry__warn("out of memory for %s: carrying on without contexts where they "
                        "are needed",
                        pool->name);
        return false;
    }
    memset(slab, 0, pool->size * pool->slab);
    for (size_t i = 0; pool->init != NULL && i < pool->slab; i++)
        pool->init(slab + i * pool->size);
    carry__spin_lock(&pool->lock);
    for (size_t i = pool->slab; i-- > 0;) {
        carry__pool_set_next(pool, slab + i * pool->size, pool->free);
        pool->free = slab + i * pool->size;
    }
    carry__spin_unlock(&pool->lock);
    return true;
}

static struct carry__pool_cache *carry__pool_cache(struct carry__pool *pool)
{
    if (CARRY__UNLIKELY(!atomic_load_explicit(&pool->listed, memory_order_acquire)))
        carry__pool_list(pool);
    return pool->slot < CARRY__POOL_SLOTS ? &carry__cache[pool->slot] : NULL;
}

void *carry__pool_take(struct carry__pool *pool)
{
    struct carry__pool_cache *cache = carry__pool_cache(pool);
    if (cache != NULL && cache->free != NULL) {
        void *obj = cache->free;
        cache->free = carry__pool_next(pool, obj);
        cache->count--;
        return obj;
    }
    for (;;) {
        carry__spin_lock(&pool->lock);
        void *obj = pool->free;
        if (obj != NULL)
            pool->free = carry__pool_next(pool, obj);
        carry__spin_unlock(&pool->lock);
        if (obj != NULL)
            return obj;
        if (!carry__pool_grow(pool))
            return NULL;
    }
}

static void carry__pool_give_shared(struct carry__pool *pool, void *obj)
{
    carry__spin_lock(&pool->lock);
    carry__pool_set_next(pool, obj, pool->free);
    pool->free = obj;
    carry__spin_unlock(&pool->lock);
}

/* The thread ends: what it kept goes back to the pools.  A destructor
 * that runs after this one and gives objects arms the key again, and
 * glibc then runs this once more. */
static void carry__cache_flush(void *unused)
{
    (void)unused;
    carry__cache_armed = false;
    carry__spin_lock(&carry__pools_lock);
    for (struct carry__pool *p = carry__pools; p != NULL; p = p->next_pool) {
        if (p->slot >= CARRY__POOL_SLOTS)
            continue;
        struct carry__pool_cache *cache = &carry__cache[p->slot];
        while (cache->free != NULL) {
            void *obj = cache->free;
            cache->free = carry__pool_next(p, obj);
            carry__pool_give_shared(p, obj);
        }
        cache->count = 0;
    }
    carry__spin_unlock(&carry__pools_lock);
}

static void carry__cache_key_create(void)
{
    carry__cache_key_ok = pthread_key_create(&carry__cache_key, carry__cache_flush) == 0;
}

/* A thread that keeps objects needs the flush at exit; without it (no key
 * left), it keeps none. */
static bool carry__cache_arm(void)
{
    int saved_errno = errno;
    pthread_once(&carry__cache_key_once, carry__cache_key_create);
    carry__cache_armed =
        carry__cache_key_ok && pthread_setspecific(carry__cache_key, &carry__cache) == 0;
    errno = saved_errno;
    return carry__cache_armed;
}

void carry__pool_give(struct carry__pool *pool, void *obj)
{
    struct carry__pool_cache *cache = carry__pool_cache(pool);
    if (cache != NULL && cache->count < CARRY__POOL_KEPT &&
        (CARRY__LIKELY(carry__cache_armed) || carry__cache_arm())) {
        carry__pool_set_next(pool, obj, cache->free);
        cache->free = obj;
        cache->count++;
        return;
    }
    carry__pool_give_shared(pool, obj);
}

void carry__pools_atfork_prepare(void)
{
    carry__spin_lock(&carry__pools_lock);
    for (struct carry__pool *p = carry__pools; p != NULL; p = p->next_pool)
        carry__spin_lock(&p->lock);
}

void carry__pools_atfork_release(void)
{
    for (struct carry__pool *p = carry__pools; p != NULL; p = p->next_pool)
        carry__spin_unlock(&p->lock);
    carry__spin_unlock(&carry__pools_lock);
}
