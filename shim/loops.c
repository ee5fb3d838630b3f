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
 */
#include <stdlib.h>

#include "internal.h"

static carry__spin carry__cbs_lock;
static struct carry__cb **carry__cbs; /* open addressing, linear probing */
static size_t carry__cbs_cap, carry__cbs_count;

static size_t carry__cb_slot(const void *key, size_t cap)
{
    uintptr_t k = (uintptr_t)key;
    k ^= k >> 17;
    k *= UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(k >> 20) & (cap - 1);
}

/* The index of key's record, or of the empty slot where it would go. */
static size_t carry__cb_find(const void *key)
{
    size_t i = carry__cb_slot(key, carry__cbs_cap);
    while (carry__cbs[i] != NULL && carry__cbs[i]->key != key)
        i = (i + 1) & (carry__cbs_cap - 1);
    return i;
}

/* Grows the table to twice its size; call without the lock (allocation
 * never happens under carry's locks, see context.c). */
static bool carry__cbs_grow(void)
{
    carry__spin_lock(&carry__cbs_lock);
    size_t want = carry__cbs_cap ? carry__cbs_cap * 2 : 256;
    carry__spin_unlock(&carry__cbs_lock);
    struct carry__cb **table = calloc(want, sizeof *table);
    if (table == NULL)
        return false;
    carry__spin_lock(&carry__cbs_lock);
    struct carry__cb **old = NULL;
    if ((carry__cbs_count + 1) * 2 > carry__cbs_cap && want > carry__cbs_cap) {
        old = carry__cbs;
        size_t old_cap = carry__cbs_cap;
        carry__cbs = table;
        carry__cbs_cap = want;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i] != NULL)
                carry__cbs[carry__cb_find(old[i]->key)] = old[i];
        table = NULL;
    }
    carry__spin_unlock(&carry__cbs_lock);
    free(table);
    free(old);
    return true;
}

struct carry__cb *carry__cb_of(const void *key, bool create)
{
    struct carry__cb *fresh = NULL;
    for (;;) {
        carry__spin_lock(&carry__cbs_lock);
        if (carry__cbs_cap > 0) {
            size_t i = carry__cb_find(key);
            if (carry__cbs[i] != NULL || !create) {
                struct carry__cb *cb = carry__cbs[i];
                carry__spin_unlock(&carry__cbs_lock);
                free(fresh);
                return cb;
            }
            if (fresh != NULL && (carry__cbs_count + 1) * 2 <= carry__cbs_cap) {
                carry__cbs[i] = fresh;
                carry__cbs_count++;
                carry__spin_unlock(&carry__cbs_lock);
                return fresh;
            }
        } else if (!create) {
            carry__spin_unlock(&carry__cbs_lock);
            return NULL;
        }
        bool full = carry__cbs_cap == 0 || (carry__cbs_count + 1) * 2 > carry__cbs_cap;
        carry__spin_unlock(&carry__cbs_lock);
        if (full && !carry__cbs_grow())
            break;
        if (fresh == NULL) {
            int saved_errno = errno;
            fresh = calloc(1, sizeof *fresh);
            errno = saved_errno;
            if (fresh == NULL)
                break;
            fresh->key = key;
            fresh->fd = -1;
        }
    }
    free(fresh);
    return NULL; /* out of memory: the caller passes the callback through */
}

void carry__cb_forget(const void *key)
{
    carry__spin_lock(&carry__cbs_lock);
    struct carry__cb *cb = NULL;
    if (carry__cbs_cap > 0) {
        size_t i = carry__cb_find(key);
        cb = carry__cbs[i];
        if (cb != NULL) {
            /* Backward-shift deletion keeps every probe run unbroken. */
            carry__cbs[i] = NULL;
            carry__cbs_count--;
            for (size_t j = (i + 1) & (carry__cbs_cap - 1); carry__cbs[j] != NULL;
                 j = (j + 1) & (carry__cbs_cap - 1)) {
                struct carry__cb *moved = carry__cbs[j];
                carry__cbs[j] = NULL;
                carry__cbs[carry__cb_find(moved->key)] = moved;
            }
        }
    }
    carry__spin_unlock(&carry__cbs_lock);
    if (cb != NULL) {
        int saved_errno = errno;
        if (atomic_load_explicit(&cb->ctx, memory_order_relaxed) != NULL)
            carry__ctx_store(&cb->ctx, NULL);
        free(cb);
        errno = saved_errno;
    }
}

void carry__cb_capture(struct carry__cb *cb)
{
    carry_ctx *current = carry__current();
    if (atomic_load_explicit(&cb->ctx, memory_order_relaxed) != current)
        carry__ctx_store(&cb->ctx, current);
}

void carry__cb_drop(struct carry__cb *cb)
{
    if (atomic_load_explicit(&cb->ctx, memory_order_relaxed) != NULL)
        carry__ctx_store(&cb->ctx, NULL);
}

carry_ctx *carry__cb_context(struct carry__cb *cb, int fd)
{
    struct carry__fd *e = fd >= 0 ? carry__fdmap_get(&carry__fds, fd) : NULL;
    if (e != NULL && atomic_load_explicit(&e->owner, memory_order_relaxed) != NULL)
        return carry__ctx_take(&e->owner);
    /* A one-shot callback hands its reference to the run: a record whose
     * work is done keeps no context alive. */
    if (!cb->persist)
        return atomic_exchange_explicit(&cb->ctx, NULL, memory_order_acq_rel);
    return carry__ctx_take(&cb->ctx);
}
