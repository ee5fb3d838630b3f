/*
 * A context's store (store.c): reads are wait-free; writes take the lock
 * the caller names (the context's: it keeps the lock beside its other
 * small fields, where the store's own would cost a padded word).
 */
#ifndef CARRY_STORE_H
#define CARRY_STORE_H

#include "common.h"
#include "lock.h"

struct carry__entry;
struct carry__chunk;

/* A context's store, inside the context. */
struct carry__store {
    /* The newest entry (a list, newest first), or the store's index (see
     * store.c) tagged in bit 0. */
    _Atomic(void *) entries;
    struct carry__chunk *arena;             /* entries, values, indexes; under the lock */
};

const char *carry__store_get(struct carry__store *store, const char *key);

/* The same, but a key the store does not hold is miss(arg, key)'s (a
 * tail call: the hit costs what carry__store_get's does). */
typedef const char *carry__store_miss_fn(void *arg, const char *key);
const char *carry__store_get_else(struct carry__store *store, const char *key,
                                  carry__store_miss_fn *miss, void *arg);
/* 0, or an errno value. */
int carry__store_set(struct carry__store *store, carry__spin *lock, const char *key,
                     const char *value);
/* The same with a value of value_len bytes that need not end in a NUL
 * (the store adds one). */
int carry__store_setn(struct carry__store *store, carry__spin *lock, const char *key,
                      const char *value, size_t value_len);
/* Adds the hidden entry of a store that is empty and that no other
 * thread can see yet: size bytes for carry's own use (addr.h's
 * addresses), which no key names (its key is the empty one, which no key
 * of a program can be) and lists leave out.  Returns them, for the caller
 * to fill in before the store is shared; NULL when out of memory. */
char *carry__store_add_hidden(struct carry__store *store, size_t size);
/* The hidden entry's bytes, or NULL when the store has none. */
const char *carry__store_hidden(struct carry__store *store);
/* key's value: the one the store holds (set, or unset: NULL), else
 * value_len bytes of value added as it (NULL when out of memory). */
const char *carry__store_add_missing(struct carry__store *store, carry__spin *lock,
                                     const char *key, const char *value, size_t value_len);
int carry__store_unset(struct carry__store *store, carry__spin *lock, const char *key);
/* Empties a store that nothing reads concurrently (no reference is
 * left to its context, or none can be taken), and returns its memory,
 * which carry__store_free_arena gives back once readers cannot see it. */
static inline struct carry__chunk *carry__store_detach(struct carry__store *store)
{
    struct carry__chunk *arena = store->arena;
    store->arena = NULL;
    atomic_store_explicit(&store->entries, NULL, memory_order_relaxed);
    return arena;
}

void carry__store_free_arena(struct carry__chunk *arena);

/* The same as carry__store_detach, but a store whose memory is one small
 * chunk keeps it, emptied, for the keys of its next life (a renewed
 * request's HTTP keys, a reused context's addresses): NULL then. */
struct carry__chunk *carry__store_recycle(struct carry__store *store);

/* Fills keys and values (room for max each) with the keys that have a
 * value (the hidden entry aside), newest first, and returns how many
 * there are in all.  Allocates nothing and takes no lock: safe in a
 * signal handler. */
size_t carry__store_list(struct carry__store *store, const char **keys, const char **values, size_t max);

/* Validates a key: 0, or an errno value. */
int carry__key_check(const char *key, size_t *len);

#endif /* CARRY_STORE_H */
