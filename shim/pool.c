/* Pools of fixed-size objects (pool.h). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pool.h"

static carry__spin carry__pools_lock;
static struct carry__pool *carry__pools;

static void **carry__pool_link(struct carry__pool *pool, void *obj)
{
    return (void **)((char *)obj + pool->link);
}

/* The link is written with relaxed atomic stores: a context's link field
 * is also its owner queue's link, which other threads access atomically. */
static void carry__pool_push(struct carry__pool *pool, void *obj)
{
    __atomic_store_n(carry__pool_link(pool, obj), pool->free, __ATOMIC_RELAXED);
    pool->free = obj;
}

static void carry__pool_list(struct carry__pool *pool)
{
    carry__spin_lock(&carry__pools_lock);
    if (!atomic_load_explicit(&pool->listed, memory_order_relaxed)) {
        pool->next_pool = carry__pools;
        carry__pools = pool;
        atomic_store_explicit(&pool->listed, true, memory_order_relaxed);
    }
    carry__spin_unlock(&carry__pools_lock);
}

/* A new slab, outside the lock: a malloc that takes its own locks around
 * fork (ASan's, jemalloc's) would deadlock against the atfork handler,
 * which holds the pool's lock. */
static bool carry__pool_grow(struct carry__pool *pool)
{
    if (!atomic_load_explicit(&pool->listed, memory_order_relaxed))
        carry__pool_list(pool);
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
    for (size_t i = pool->slab; i-- > 0;)
        carry__pool_push(pool, slab + i * pool->size);
    carry__spin_unlock(&pool->lock);
    return true;
}

void *carry__pool_take(struct carry__pool *pool)
{
    for (;;) {
        carry__spin_lock(&pool->lock);
        void *obj = pool->free;
        if (obj != NULL)
            pool->free = __atomic_load_n(carry__pool_link(pool, obj), __ATOMIC_RELAXED);
        carry__spin_unlock(&pool->lock);
        if (obj != NULL)
            return obj;
        if (!carry__pool_grow(pool))
            return NULL;
    }
}

void carry__pool_give(struct carry__pool *pool, void *obj)
{
    carry__spin_lock(&pool->lock);
    carry__pool_push(pool, obj);
    carry__spin_unlock(&pool->lock);
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
