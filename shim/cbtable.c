/* A table keyed by address, looked up without a lock (cbtable.h). */
#include <stdlib.h>

#include "cbtable.h"

/* The index of key's entry in s, or of the empty slot where it would go;
 * call with the lock held. */
static size_t carry__cbtable_find(struct carry__cbtable_slots *s, const void *key)
{
    size_t i = carry__cbtable_slot(key, s->cap);
    struct carry__cbtable_entry *e;
    while ((e = atomic_load_explicit(&s->slot[i], memory_order_acquire)) != NULL &&
           carry__cbtable_key(e) != key)
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* Entries are about to move: lookups meanwhile must look again.  The
 * moves are release stores and lookups read with acquire loads, so a
 * lookup that sees a move sees this count too (no fence: TSan has none). */
static void carry__cbtable_moving(struct carry__cbtable *t)
{
    uint32_t seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
    atomic_store_explicit(&t->seq, seq + 1, memory_order_relaxed);
}

static void carry__cbtable_moved(struct carry__cbtable *t)
{
    uint32_t seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
    atomic_store_explicit(&t->seq, seq + 1, memory_order_release);
}

static bool carry__cbtable_full(struct carry__cbtable *t, struct carry__cbtable_slots *s)
{
    return s == NULL || (t->count + 1) * 2 > s->cap;
}

/* Grows the table to twice its size; call without the lock (allocation
 * never happens under carry's locks, see context.c). */
static bool carry__cbtable_grow(struct carry__cbtable *t)
{
    carry__spin_lock(&t->lock);
    struct carry__cbtable_slots *old = atomic_load_explicit(&t->slots, memory_order_relaxed);
    size_t want = old ? old->cap * 2 : 256;
    carry__spin_unlock(&t->lock);
    int saved_errno = errno;
    struct carry__cbtable_slots *s = calloc(1, sizeof *s + want * sizeof s->slot[0]);
    errno = saved_errno;
    if (s == NULL)
        return false;
    s->cap = want;
    carry__spin_lock(&t->lock);
    old = atomic_load_explicit(&t->slots, memory_order_relaxed);
    if (carry__cbtable_full(t, old) && (old == NULL || want > old->cap)) {
        for (size_t i = 0; old != NULL && i < old->cap; i++) {
            struct carry__cbtable_entry *e = atomic_load_explicit(&old->slot[i], memory_order_relaxed);
            if (e != NULL)
                atomic_store_explicit(&s->slot[carry__cbtable_find(s, carry__cbtable_key(e))], e,
                                      memory_order_release);
        }
        s->outgrown = old;
        carry__cbtable_moving(t);
        atomic_store_explicit(&t->slots, s, memory_order_release);
        carry__cbtable_moved(t);
        s = NULL;
    }
    carry__spin_unlock(&t->lock);
    free(s);
    return true;
}

struct carry__cbtable_entry *carry__cbtable_put(struct carry__cbtable *t, const void *key,
                                                struct carry__cbtable_entry *e)
{
    for (;;) {
        carry__spin_lock(&t->lock);
        struct carry__cbtable_slots *s = atomic_load_explicit(&t->slots, memory_order_relaxed);
        bool full = carry__cbtable_full(t, s);
        struct carry__cbtable_entry *found = NULL;
        if (s != NULL) {
            size_t i = carry__cbtable_find(s, key);
            found = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
            if (found == NULL && !full) {
                __atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
                atomic_store_explicit(&s->slot[i], e, memory_order_release);
                if (++t->count > t->peak)
                    t->peak = t->count;
                found = e;
            }
        }
        carry__spin_unlock(&t->lock);
        if (found != NULL)
            return found;
        if (!carry__cbtable_grow(t))
            return NULL;
    }
}

struct carry__cbtable_entry *carry__cbtable_remove(struct carry__cbtable *t, const void *key,
                                                   const struct carry__cbtable_entry *only)
{
    carry__spin_lock(&t->lock);
    struct carry__cbtable_slots *s = atomic_load_explicit(&t->slots, memory_order_relaxed);
    struct carry__cbtable_entry *e = NULL;
    if (s != NULL) {
        size_t i = carry__cbtable_find(s, key);
        e = atomic_load_explicit(&s->slot[i], memory_order_relaxed);
        if (only != NULL && e != only)
            e = NULL;
        if (e != NULL) {
            /* Backward-shift deletion keeps every probe run unbroken. */
            carry__cbtable_moving(t);
            atomic_store_explicit(&s->slot[i], NULL, memory_order_release);
            t->count--;
            for (size_t j = (i + 1) & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
                struct carry__cbtable_entry *moved =
                    atomic_load_explicit(&s->slot[j], memory_order_relaxed);
                if (moved == NULL)
                    break;
                atomic_store_explicit(&s->slot[j], NULL, memory_order_release);
                atomic_store_explicit(&s->slot[carry__cbtable_find(s, carry__cbtable_key(moved))],
                                      moved, memory_order_release);
            }
            __atomic_store_n(&e->key, NULL, __ATOMIC_RELEASE);
            carry__cbtable_moved(t);
        }
    }
    carry__spin_unlock(&t->lock);
    return e;
}

void carry__cbtable_counts(struct carry__cbtable *t, size_t *alive, size_t *peak)
{
    carry__spin_lock(&t->lock);
    *alive = t->count;
    *peak = t->peak;
    carry__spin_unlock(&t->lock);
}

void carry__cbtable_atfork_prepare(struct carry__cbtable *t)
{
    carry__spin_lock(&t->lock);
}

void carry__cbtable_atfork_release(struct carry__cbtable *t)
{
    carry__spin_unlock(&t->lock);
}
