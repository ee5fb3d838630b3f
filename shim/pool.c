/*
 * Pools of fixed-size objects (pool.h).  Each thread keeps a short list of
 * free objects per pool, so that the common take and give, on a thread that
 * makes and ends contexts and records in turn, take no lock; the lists go
 * back to their pools when the thread ends.
 */
#include <pthread.h>
#include <sys/mman.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "log.h"
#include "pool.h"
#include "stats.h"

static carry__spin carry__pools_lock;
static struct carry__pool *carry__pools;
static unsigned carry__pools_listed; /* kept pools given lists */

__thread void *carry__pool_kept[CARRY__POOL_SLOTS]
    __attribute__((tls_model("initial-exec"), aligned(8)));
__thread uint8_t carry__pool_kept_count[CARRY__POOL_SLOTS]
    __attribute__((tls_model("initial-exec")));
__thread bool carry__pool_keeping __attribute__((tls_model("initial-exec")));
static pthread_key_t carry__keep_key;
static pthread_once_t carry__keep_key_once = PTHREAD_ONCE_INIT;
static bool carry__keep_key_ok;

static void *carry__pool_next(struct carry__pool *pool, void *obj)
{
    return __atomic_load_n(carry__pool_link(pool, obj), __ATOMIC_RELAXED);
}

static void carry__pool_set_next(struct carry__pool *pool, void *obj, void *next)
{
    __atomic_store_n(carry__pool_link(pool, obj), next, __ATOMIC_RELAXED);
}

/* The first use of a pool lists it, for fork and thread exit, and gives a
 * kept pool its per-thread lists while there are some left. */
static void carry__pool_list(struct carry__pool *pool)
{
    carry__spin_lock(&carry__pools_lock);
    if (!atomic_load_explicit(&pool->listed, memory_order_relaxed)) {
        pool->next_pool = carry__pools;
        carry__pools = pool;
        if (pool->kept && carry__pools_listed < CARRY__POOL_SLOTS)
            atomic_store_explicit(&pool->slot, ++carry__pools_listed, memory_order_relaxed);
        atomic_store_explicit(&pool->listed, true, memory_order_release);
    }
    carry__spin_unlock(&carry__pools_lock);
}

/*
 * Slabs come from carry's own mappings, never from the program's heap, so
 * that a pool's growth leaves the program's allocator as it would be
 * without carry: its free lists, its top chunk, and with them what the
 * program's own allocations cost (nginx's per-request allocations cost 80
 * instructions more when one of carry's slabs grew past 2 KiB).  A slab is
 * a mapping of its own, zero until used, in whole pages (the rest of the
 * last stays unused); slabs are never given back.
 */
static void *carry__slab_new(size_t size)
{
    char *slab = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slab == MAP_FAILED)
        return NULL;
#if defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer looks for pointers to the heap in the heap, the stacks
     * and the globals: carry's objects hold some (a store's larger chunks,
     * a callback table's slots). */
    __lsan_register_root_region(slab, size);
#endif
    return slab;
}

/* A new slab, outside the pool's lock, which the atfork handler holds. */
static bool carry__pool_grow(struct carry__pool *pool)
{
    int saved_errno = errno;
    /* Objects from the mapping's start (page-aligned: any pool's
     * alignment), then the link to the slab before. */
    char *slab = carry__slab_new(pool->size * pool->slab + sizeof(void *));
    errno = saved_errno;
    if (slab == NULL) {
        if (!atomic_exchange_explicit(&pool->warned, true, memory_order_relaxed))
            carry__warn("out of memory for %s: carrying on without contexts where they "
                        "are needed",
                        pool->name);
        return false;
    }
    for (size_t i = 0; pool->init != NULL && i < pool->slab; i++)
        pool->init(slab + i * pool->size);
    carry__spin_lock(&pool->lock);
    for (size_t i = pool->slab; i-- > 0;) {
        carry__pool_set_next(pool, slab + i * pool->size, pool->free);
        pool->free = slab + i * pool->size;
    }
    void **link = (void **)(slab + pool->size * pool->slab);
    *link = atomic_load_explicit(&pool->slabs, memory_order_relaxed);
    atomic_store_explicit(&pool->slabs, slab, memory_order_release);
    carry__spin_unlock(&pool->lock);
    return true;
}

void carry__pool_each(struct carry__pool *pool, void (*fn)(void *obj, void *arg), void *arg)
{
    for (char *slab = atomic_load_explicit(&pool->slabs, memory_order_acquire); slab != NULL;
         slab = *(void **)(slab + pool->size * pool->slab))
        for (size_t i = 0; i < pool->slab; i++)
            fn(slab + i * pool->size, arg);
}

void carry__pool_give_shared(struct carry__pool *pool, void *obj)
{
    carry__spin_lock(&pool->lock);
    carry__pool_set_next(pool, obj, pool->free);
    pool->free = obj;
    carry__spin_unlock(&pool->lock);
}

/* The thread ends: what it kept goes back to the pools.  A destructor
 * that runs after this one and takes objects arms the key again, and
 * glibc then runs this once more. */
static void carry__keep_flush(void *unused)
{
    (void)unused;
    carry__pool_keeping = false;
    carry__spin_lock(&carry__pools_lock);
    for (struct carry__pool *p = carry__pools; p != NULL; p = p->next_pool) {
        unsigned slot = atomic_load_explicit(&p->slot, memory_order_relaxed);
        if (slot == 0)
            continue;
        while (carry__pool_kept[slot - 1] != NULL) {
            void *obj = carry__pool_kept[slot - 1];
            carry__pool_kept[slot - 1] = carry__pool_next(p, obj);
            carry__pool_give_shared(p, obj);
        }
        carry__pool_kept_count[slot - 1] = 0;
    }
    carry__spin_unlock(&carry__pools_lock);
}

static void carry__keep_key_create(void)
{
    carry__keep_key_ok = pthread_key_create(&carry__keep_key, carry__keep_flush) == 0;
}

/*
 * A thread keeps objects once it takes them from the shared lists: it
 * makes them, and will likely end them and make more.  A thread that only
 * gives (a new thread giving back its start record, a thread letting go of
 * another's context) keeps none, so it needs no flush at exit.  Without a
 * key left for the flush, the thread keeps none either.
 */
static void carry__keep_arm(void)
{
    int saved_errno = errno;
    pthread_once(&carry__keep_key_once, carry__keep_key_create);
    carry__pool_keeping =
        carry__keep_key_ok && pthread_setspecific(carry__keep_key, carry__pool_kept) == 0;
    errno = saved_errno;
}

void *carry__pool_take_shared(struct carry__pool *pool)
{
    if (CARRY__UNLIKELY(!atomic_load_explicit(&pool->listed, memory_order_acquire)))
        carry__pool_list(pool);
    if (!carry__pool_keeping && atomic_load_explicit(&pool->slot, memory_order_relaxed) != 0)
        carry__keep_arm();
    for (;;) {
        carry__spin_lock(&pool->lock);
        void *obj = pool->free;
        if (obj != NULL)
            pool->free = carry__pool_next(pool, obj);
        carry__spin_unlock(&pool->lock);
        if (obj != NULL)
            return obj;
        if (!carry__pool_grow(pool)) {
            carry__count(&carry__stats.lost_to_memory);
            return NULL;
        }
    }
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
