/*
 * Contexts: their memory, their ids and their references.
 *
 * Context memory comes from slabs that are never given back to malloc: a
 * context that dies goes to a free list and is reused.  So a handle the
 * application released too often still points at a context-shaped object,
 * and the double release is caught by the checks below instead of turning
 * into a corrupted heap.
 */
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define CARRY__SLAB_CONTEXTS 64

static carry__spin carry__pool_lock;
static carry_ctx *carry__pool_free;
static _Atomic uint64_t carry__live;

/* The pid in the top 24 bits makes a forked child's ids differ from its
 * parent's; the counter below gives 2^40 ids per process.  The prefix is
 * set on first use by whichever thread gets there (all compute the same
 * value), and anew in a forked child. */
static _Atomic uint64_t carry__id_prefix;
static _Atomic uint64_t carry__id_counter = 1;
#define CARRY__ID_BLOCK 1024

static uint64_t carry__id_prefix_of_this_process(void)
{
    uint64_t prefix = atomic_load_explicit(&carry__id_prefix, memory_order_relaxed);
    if (CARRY__UNLIKELY(prefix == 0)) {
        prefix = ((uint64_t)getpid() & 0xffffff) << 40;
        atomic_store_explicit(&carry__id_prefix, prefix, memory_order_relaxed);
    }
    return prefix;
}

uint64_t carry__id_next(void)
{
    struct carry__thread *self = &carry__self;
    if (CARRY__UNLIKELY(self->id_next == self->id_limit)) {
        self->id_next = atomic_fetch_add(&carry__id_counter, CARRY__ID_BLOCK);
        self->id_limit = self->id_next + CARRY__ID_BLOCK;
    }
    return carry__id_prefix_of_this_process() | (self->id_next++ & ((UINT64_C(1) << 40) - 1));
}

/* Never allocates under the pool lock: a malloc that takes its own locks
 * around fork (ASan's, jemalloc's) would deadlock against our atfork
 * handler, which holds the pool lock across fork. */
static carry_ctx *carry__pool_take(void)
{
    for (;;) {
        carry__spin_lock(&carry__pool_lock);
        carry_ctx *ctx = carry__pool_free;
        if (ctx != NULL) {
            carry__pool_free = ctx->free_next;
            carry__spin_unlock(&carry__pool_lock);
            return ctx;
        }
        carry__spin_unlock(&carry__pool_lock);

        carry_ctx *slab = aligned_alloc(64, sizeof(carry_ctx) * CARRY__SLAB_CONTEXTS);
        if (slab == NULL)
            return NULL;
        for (size_t i = 0; i < CARRY__SLAB_CONTEXTS; i++) {
            slab[i].magic = CARRY__CTX_DEAD;
            slab[i].free_next = i + 1 < CARRY__SLAB_CONTEXTS ? &slab[i + 1] : NULL;
        }
        carry__spin_lock(&carry__pool_lock);
        slab[CARRY__SLAB_CONTEXTS - 1].free_next = carry__pool_free;
        carry__pool_free = slab;
        carry__spin_unlock(&carry__pool_lock);
    }
}

carry_ctx *carry__ctx_new(void)
{
    int saved_errno = errno;
    carry_ctx *ctx = carry__pool_take();
    if (ctx == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    errno = saved_errno;
    atomic_init(&ctx->refs, CARRY__REF_INTERNAL);
    ctx->id = carry__id_next();
    atomic_init(&ctx->entries, NULL);
    ctx->arena = NULL;
    atomic_init(&ctx->lock, 0);
    ctx->free_next = NULL;
    ctx->magic = CARRY__CTX_LIVE;
    uint64_t live = atomic_fetch_add_explicit(&carry__live, 1, memory_order_relaxed) + 1;
    if (carry__counting())
        carry__stats_context_born(live);
    return ctx;
}

void carry__ctx_die(carry_ctx *ctx)
{
    carry__store_free(ctx);
    ctx->magic = CARRY__CTX_DEAD;
    atomic_fetch_sub_explicit(&carry__live, 1, memory_order_relaxed);
    carry__spin_lock(&carry__pool_lock);
    ctx->free_next = carry__pool_free;
    carry__pool_free = ctx;
    carry__spin_unlock(&carry__pool_lock);
}

carry_ctx *carry__ctx_handle(carry_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, CARRY__REF_HANDLE, memory_order_relaxed);
    return ctx;
}

static void carry__bad_release(carry_ctx *ctx, const char *why)
{
    carry__warn("carry_release(%p): %s; call ignored", (void *)ctx, why);
    if (carry__config.debug >= 3)
        abort();
}

void carry__ctx_release_handle(carry_ctx *ctx)
{
    if (ctx->magic != CARRY__CTX_LIVE) {
        carry__bad_release(ctx, "the context is already dead (released twice?)");
        return;
    }
    uint64_t refs = atomic_fetch_sub_explicit(&ctx->refs, CARRY__REF_HANDLE, memory_order_acq_rel);
    if (CARRY__UNLIKELY(refs < CARRY__REF_HANDLE)) {
        /* No handle was out: undo.  Meanwhile the count read huge, which
         * kills nothing. */
        atomic_fetch_add_explicit(&ctx->refs, CARRY__REF_HANDLE, memory_order_relaxed);
        carry__bad_release(ctx, "more releases than captures of this context");
        return;
    }
    if (refs == CARRY__REF_HANDLE)
        carry__ctx_die(ctx);
}

uint64_t carry__ctx_live(void)
{
    return atomic_load_explicit(&carry__live, memory_order_relaxed);
}

/* The pool's free list must be whole in the child: hold its lock across
 * fork.  Store locks need no such care (see lock.c). */
void carry__ctx_atfork_prepare(void)
{
    carry__spin_lock(&carry__pool_lock);
}

void carry__ctx_atfork_parent(void)
{
    carry__spin_unlock(&carry__pool_lock);
}

void carry__ctx_atfork_child(void)
{
    atomic_store(&carry__id_prefix, 0);
    atomic_store(&carry__id_counter, 1);
    carry__self.id_next = carry__self.id_limit = 0;
    carry__spin_unlock(&carry__pool_lock);
}
