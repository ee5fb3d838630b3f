/*
 * A table of entries keyed by address, with lookups that take no lock
 * (cbtable.c): rule L's callback records, looked up on every callback a
 * library dispatches, are kept in one.
 *
 * Open addressing with linear probing.  Writers hold the lock.  Lookups
 * take no lock: a sequence count, odd while a writer moves entries
 * (deletion, growth), tells them to look again.  An insertion moves
 * nothing and leaves the count alone, so a lookup returns only an entry it
 * saw with its key (carry__cbtable_probe).  This is safe because nothing a
 * lookup may touch is ever freed: entries live in pools (pool.h), and a
 * table outgrown stays allocated (all of them together are less than twice
 * the current one).
 */
#ifndef CARRY_CBTABLE_H
#define CARRY_CBTABLE_H

#include "common.h"
#include "lock.h"

/* What the table holds, inside a larger object.  key is read and written
 * atomically: a lookup may read it while a writer clears it. */
struct carry__cbtable_entry {
    const void *key;
};

struct carry__cbtable_slots {
    size_t cap;
    struct carry__cbtable_slots *outgrown;
    _Atomic(struct carry__cbtable_entry *) slot[];
};

struct carry__cbtable {
    carry__spin lock;
    _Atomic uint32_t seq;
    _Atomic(struct carry__cbtable_slots *) slots;
    size_t count, peak; /* entries now and at most, under the lock */
};

static inline const void *carry__cbtable_key(const struct carry__cbtable_entry *e)
{
    return __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
}

static inline size_t carry__cbtable_slot(const void *key, size_t cap)
{
    uintptr_t k = (uintptr_t)key;
    k ^= k >> 17;
    k *= UINT64_C(0x9e3779b97f4a7c15);
    return (size_t)(k >> 20) & (cap - 1);
}

/* key's entry in s, or NULL, for a lookup without the lock: the entry the
 * probe saw with key's key, never what the slot it stopped at holds when
 * read again.  A writer may fill that empty slot meanwhile with the entry
 * of another key, and an insertion leaves the sequence count alone: a
 * lookup that read the slot again would return that entry as key's (so
 * libuv's pool threads, looking up the loop's internal async handle, which
 * has no record, in uv_async_send, would capture into a request the loop
 * thread had just scheduled, and clear its context). */
static inline struct carry__cbtable_entry *carry__cbtable_probe(struct carry__cbtable_slots *s,
                                                                const void *key)
{
    size_t i = carry__cbtable_slot(key, s->cap);
    struct carry__cbtable_entry *e;
    while ((e = atomic_load_explicit(&s->slot[i], memory_order_acquire)) != NULL) {
        if (carry__cbtable_key(e) == key)
            return e;
        i = (i + 1) & (s->cap - 1);
    }
    return NULL;
}

/* key's entry, or NULL; takes no lock. */
static inline struct carry__cbtable_entry *carry__cbtable_get(struct carry__cbtable *t,
                                                              const void *key)
{
    for (;;) {
        uint32_t seq = atomic_load_explicit(&t->seq, memory_order_acquire);
        struct carry__cbtable_slots *s = atomic_load_explicit(&t->slots, memory_order_acquire);
        struct carry__cbtable_entry *e = s ? carry__cbtable_probe(s, key) : NULL;
        if ((seq & 1) == 0 && atomic_load_explicit(&t->seq, memory_order_relaxed) == seq)
            return e;
    }
}

/* key's entry: the one it has, else e, which now holds key.  NULL when
 * the table cannot grow (out of memory). */
struct carry__cbtable_entry *carry__cbtable_put(struct carry__cbtable *t, const void *key,
                                                struct carry__cbtable_entry *e);

/* Takes key's entry out of the table (its key is NULL then) and returns
 * it, or NULL when key has none, or (only not NULL) when it is not only. */
struct carry__cbtable_entry *carry__cbtable_remove(struct carry__cbtable *t, const void *key,
                                                   const struct carry__cbtable_entry *only);

/* Entries in the table now and at most. */
void carry__cbtable_counts(struct carry__cbtable *t, size_t *alive, size_t *peak);

/* The table is held across fork, so that the child never sees it
 * half-changed (lookups would wait for ever). */
void carry__cbtable_atfork_prepare(struct carry__cbtable *t);
void carry__cbtable_atfork_release(struct carry__cbtable *t);

#endif /* CARRY_CBTABLE_H */
