/*
 * A context's store: a list of entries, newest first, each with an atomic
 * pointer to its current value; past CARRY__LIST_MAX entries, also a hash
 * index over them.  Readers walk the list or probe the index without a
 * lock; writers serialise on their lock and publish with release
 * stores.  Entries, values and indexes, once published, stay until the
 * context dies, so pointers handed out by carry_get stay valid while the
 * context lives and a reader never touches freed memory.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pool.h"
#include "store.h"

/*
 * Entries, values and indexes live in a per-store arena of chunks, bumped
 * under the store's lock and freed all together when the context dies:
 * values and indexes must outlive their replacement anyway, and a bump is
 * far cheaper than malloc.
 */
struct carry__chunk {
    struct carry__chunk *next;
    size_t used, size;
    _Alignas(8) char bytes[];
};

#define CARRY__CHUNK_FIRST 104  /* a 128-byte first chunk holds a couple of keys */
#define CARRY__CHUNK_MAX 4096

/* First chunks, which nearly every context has (a connection's peer and
 * local), come from a pool; larger ones from malloc.  A union: a struct
 * with a flexible array member may not be a member of a struct. */
union carry__first_chunk {
    struct carry__chunk head;
    char whole[sizeof(struct carry__chunk) + CARRY__CHUNK_FIRST];
};

static struct carry__pool carry__first_chunks =
    CARRY__POOL_INIT(union carry__first_chunk, head.next, 256, NULL, true, "context stores");

struct carry__entry {
    struct carry__entry *next;       /* fixed once published */
    _Atomic(const char *) value;     /* NULL: unset */
    char key[];
};

/*
 * A store holds its first few keys in the list alone: walking a handful of
 * entries costs less than hashing the key.  Past CARRY__LIST_MAX it gets an
 * index: open addressing with linear probing over entry pointers, at most
 * half full.  Entries are never removed, so a slot, once filled, keeps its
 * entry and probes need no tombstones.  An index that gets too full is
 * replaced by one twice its size, built aside and then published; the old
 * one stays in the arena, whole, for readers still probing it.
 */
#define CARRY__LIST_MAX 8
#define CARRY__INDEX_FIRST 32 /* slots of the first index: room for 16 keys */

struct carry__index {
    _Atomic(struct carry__entry *) newest; /* the list's head */
    size_t count;                          /* entries; writers only */
    size_t mask;                           /* slots - 1 */
    unsigned shift;                        /* 64 - log2(slots) */
    _Atomic(struct carry__entry *) slots[];
};

/* store->entries holds the list's head, or its index with this bit set. */
#define CARRY__INDEXED ((uintptr_t)1)

/* Allocates size bytes (a multiple of 8) from a new chunk of the store's
 * arena, the head's room being too small. */
static __attribute__((noinline)) void *carry__arena_grow(struct carry__store *store, size_t size)
{
    struct carry__chunk *head = store->arena;
    size_t room = head ? head->size * 2 : CARRY__CHUNK_FIRST;
    if (room > CARRY__CHUNK_MAX)
        room = CARRY__CHUNK_MAX;
    if (room < size)
        room = size;
    struct carry__chunk *chunk = room == CARRY__CHUNK_FIRST ? carry__pool_take(&carry__first_chunks)
                                                            : malloc(sizeof *chunk + room);
    if (chunk == NULL)
        return NULL;
    chunk->used = size;
    chunk->size = room;
    /* A chunk made for one big value goes behind the head, which keeps its
     * free room for the small ones. */
    if (head != NULL && room == size && head->size - head->used >= 64) {
        chunk->next = head->next;
        head->next = chunk;
    } else {
        chunk->next = head;
        store->arena = chunk;
    }
    return chunk->bytes;
}

/* Allocates size bytes from the store's arena; call with its lock held.
 * Inline: most allocations fit in the head chunk. */
static inline __attribute__((always_inline)) void *carry__arena_alloc(struct carry__store *store,
                                                                     size_t size)
{
    size = (size + 7) & ~(size_t)7;
    struct carry__chunk *head = store->arena;
    if (CARRY__UNLIKELY(head == NULL || head->size - head->used < size))
        return carry__arena_grow(store, size);
    void *p = head->bytes + head->used;
    head->used += size;
    return p;
}

int carry__key_check(const char *key, size_t *len)
{
    if (key == NULL || key[0] == '\0')
        return EINVAL;
    *len = strnlen(key, CARRY_KEY_MAX + 1);
    return *len > CARRY_KEY_MAX ? ENAMETOOLONG : 0;
}

/* Whether an entry's key is key (non-empty).  Inline rather than strcmp:
 * keys are short and a call costs more than the comparison; most keys
 * differ in their first byte, which alone then settles it. */
static inline bool carry__key_is(const char *a, const char *b)
{
    if (a[0] != b[0])
        return false;
    do
        a++, b++;
    while (*a == *b && *a != '\0');
    return *a == *b;
}

/* FNV-1a, then a Fibonacci multiply: FNV-1a alone leaves keys that differ
 * in their last bytes (key1, key2, ...) in clusters of nearby slots.  The
 * product's high bits, which mix in every byte, pick the slot. */
static uint64_t carry__key_hash(const char *key)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * UINT64_C(0x100000001b3);
    return h * UINT64_C(0x9e3779b97f4a7c15);
}

/* The slot that holds key's entry, or the empty one where it would go. */
static _Atomic(struct carry__entry *) *carry__index_slot(struct carry__index *index,
                                                         const char *key)
{
    size_t i = (size_t)(carry__key_hash(key) >> index->shift);
    for (;; i = (i + 1) & index->mask) {
        struct carry__entry *e = atomic_load_explicit(&index->slots[i], memory_order_acquire);
        if (e == NULL || carry__key_is(e->key, key))
            return &index->slots[i];
    }
}

/* Out of line: the few-key path below stays as short as a list walk. */
static __attribute__((noinline)) struct carry__entry *carry__index_find(uintptr_t head,
                                                                        const char *key)
{
    struct carry__index *index = (struct carry__index *)(head & ~CARRY__INDEXED);
    return atomic_load_explicit(carry__index_slot(index, key), memory_order_acquire);
}

static inline __attribute__((always_inline)) struct carry__entry *
carry__store_find(struct carry__store *store, const char *key)
{
    uintptr_t head = (uintptr_t)atomic_load_explicit(&store->entries, memory_order_acquire);
    if (CARRY__UNLIKELY(head & CARRY__INDEXED))
        return carry__index_find(head, key);
    struct carry__entry *e = (struct carry__entry *)head;
    while (e != NULL && !carry__key_is(e->key, key))
        e = e->next;
    return e;
}

const char *carry__store_get(struct carry__store *store, const char *key)
{
    struct carry__entry *e = carry__store_find(store, key);
    return e ? atomic_load_explicit(&e->value, memory_order_acquire) : NULL;
}

const char *carry__store_get_else(struct carry__store *store, const char *key,
                                  carry__store_miss_fn *miss, void *arg)
{
    struct carry__entry *e = carry__store_find(store, key);
    if (e != NULL)
        return atomic_load_explicit(&e->value, memory_order_acquire);
    return miss(arg, key);
}

/* The list's head, whether or not the store has an index. */
static struct carry__entry *carry__store_newest(struct carry__store *store)
{
    uintptr_t head = (uintptr_t)atomic_load_explicit(&store->entries, memory_order_acquire);
    if (head & CARRY__INDEXED)
        return atomic_load_explicit(
            &((struct carry__index *)(head & ~CARRY__INDEXED))->newest, memory_order_acquire);
    return (struct carry__entry *)head;
}

size_t carry__store_list(struct carry__store *store, const char **keys, const char **values,
                         size_t max)
{
    size_t n = 0;
    for (struct carry__entry *e = carry__store_newest(store); e != NULL; e = e->next) {
        const char *value = atomic_load_explicit(&e->value, memory_order_acquire);
        if (value == NULL || e->key[0] == '\0')
            continue;
        if (n < max) {
            keys[n] = e->key;
            values[n] = value;
        }
        n++;
    }
    return n;
}

/* Builds an index of the given slots over the count entries of the list
 * from newest and publishes it; call with the store's lock held.  NULL
 * when out of memory: the store stays as it was. */
static struct carry__index *carry__index_publish(struct carry__store *store,
                                                 struct carry__entry *newest, size_t count,
                                                 size_t slots)
{
    struct carry__index *index =
        carry__arena_alloc(store, sizeof *index + slots * sizeof index->slots[0]);
    if (index == NULL)
        return NULL;
    /* Not yet visible to readers: plain initialisation. */
    memset(index->slots, 0, slots * sizeof index->slots[0]);
    atomic_init(&index->newest, newest);
    index->count = count;
    index->mask = slots - 1;
    index->shift = (unsigned)(64 - __builtin_ctzll(slots));
    for (struct carry__entry *e = newest; e != NULL; e = e->next)
        atomic_init(carry__index_slot(index, e->key), e);
    atomic_store_explicit(&store->entries, (void *)((uintptr_t)index | CARRY__INDEXED),
                          memory_order_release);
    return index;
}

/* value_len bytes of value at dst, and a NUL after them. */
static inline __attribute__((always_inline)) void carry__copy_value(char *dst, const char *value,
                                                                   size_t value_len)
{
    carry__copy(dst, value, value_len);
    dst[value_len] = '\0';
}

/* A new entry for key, with value_len bytes of value (a NUL added) right
 * behind its key: one allocation for both. */
static inline __attribute__((always_inline)) struct carry__entry *
carry__entry_new(struct carry__store *store, const char *key, size_t key_len, const char *value,
                 size_t value_len, struct carry__entry *next)
{
    struct carry__entry *e = carry__arena_alloc(store, sizeof *e + key_len + 1 + value_len + 1);
    if (e != NULL) {
        carry__copy(e->key, key, key_len + 1);
        char *copy = e->key + key_len + 1;
        carry__copy_value(copy, value, value_len);
        atomic_init(&e->value, copy);
        e->next = next;
    }
    return e;
}

/* The number of entries in a list store (at most CARRY__LIST_MAX). */
static inline size_t carry__list_count(struct carry__entry *newest)
{
    size_t count = 0;
    for (struct carry__entry *e = newest; e != NULL; e = e->next)
        count++;
    return count;
}

/* carry__store_add for a store that has or gets an index: apart, so that
 * adding to a short list saves few registers. */
static __attribute__((noinline)) struct carry__entry *
carry__store_add_indexed(struct carry__store *store, const char *key, size_t key_len,
                         const char *value, size_t value_len)
{
    uintptr_t head = (uintptr_t)atomic_load_explicit(&store->entries, memory_order_relaxed);
    struct carry__index *index = (struct carry__index *)(head & ~CARRY__INDEXED);
    if (!(head & CARRY__INDEXED)) {
        struct carry__entry *newest = (struct carry__entry *)head;
        index = carry__index_publish(store, newest, carry__list_count(newest),
                                     CARRY__INDEX_FIRST);
    } else if ((index->count + 1) * 2 > index->mask + 1) {
        index = carry__index_publish(
            store, atomic_load_explicit(&index->newest, memory_order_relaxed), index->count,
            (index->mask + 1) * 2);
    }
    if (index == NULL)
        return NULL;
    struct carry__entry *e =
        carry__entry_new(store, key, key_len, value, value_len,
                         atomic_load_explicit(&index->newest, memory_order_relaxed));
    if (e == NULL)
        return NULL;
    /* Counted first: a child forked from here on, which takes the lock
     * over, finds the index at most half full. */
    index->count++;
    atomic_store_explicit(carry__index_slot(index, key), e, memory_order_release);
    atomic_store_explicit(&index->newest, e, memory_order_release);
    return e;
}

/* Adds an entry for key (key_len bytes) holding value_len bytes of value;
 * call with the store's lock held, key absent.  The entry, or NULL when
 * out of memory. */
static inline __attribute__((always_inline)) struct carry__entry *
carry__store_add(struct carry__store *store, const char *key, size_t key_len, const char *value,
                 size_t value_len)
{
    uintptr_t head = (uintptr_t)atomic_load_explicit(&store->entries, memory_order_relaxed);
    struct carry__entry *newest = (struct carry__entry *)head;
    if ((head & CARRY__INDEXED) || carry__list_count(newest) >= CARRY__LIST_MAX)
        return carry__store_add_indexed(store, key, key_len, value, value_len);
    struct carry__entry *e = carry__entry_new(store, key, key_len, value, value_len, newest);
    if (e != NULL)
        atomic_store_explicit(&store->entries, e, memory_order_release);
    return e;
}

char *carry__store_add_hidden(struct carry__store *store, size_t size)
{
    CARRY__INVARIANT(atomic_load_explicit(&store->entries, memory_order_relaxed) == NULL,
                     "a hidden entry added to a store that has entries");
    struct carry__entry *e = carry__arena_alloc(store, sizeof *e + 1 + size);
    if (e == NULL)
        return NULL;
    e->next = NULL;
    e->key[0] = '\0';
    atomic_init(&e->value, e->key + 1);
    atomic_store_explicit(&store->entries, e, memory_order_relaxed);
    return e->key + 1;
}

const char *carry__store_hidden(struct carry__store *store)
{
    /* Added to an empty store, it is the oldest entry: the list's last. */
    struct carry__entry *e = carry__store_newest(store);
    while (e != NULL && e->next != NULL)
        e = e->next;
    return e != NULL && e->key[0] == '\0' ? atomic_load_explicit(&e->value, memory_order_relaxed)
                                           : NULL;
}

const char *carry__store_add_missing(struct carry__store *store, carry__spin *lock,
                                     const char *key, const char *value, size_t value_len)
{
    carry__spin_lock(lock);
    /* Another thread may have added key since the caller missed it. */
    struct carry__entry *e = carry__store_find(store, key);
    if (e == NULL)
        e = carry__store_add(store, key, strlen(key), value, value_len);
    const char *now = e != NULL ? atomic_load_explicit(&e->value, memory_order_relaxed) : NULL;
    carry__spin_unlock(lock);
    return now;
}

/* Writes value_len bytes of value (a NUL added) as key's value, unless
 * the entry e found for key already holds them. */
static inline __attribute__((always_inline)) int
carry__store_write(struct carry__store *store, carry__spin *lock, struct carry__entry *e,
                   const char *key, const char *value, size_t value_len)
{
    int err = ENOMEM;
    carry__spin_lock(lock);
    /* Entries are never removed: one found before is still there, and one
     * missed may have been added since by another writer. */
    if (e == NULL)
        e = carry__store_find(store, key);
    if (e == NULL) {
        if (carry__store_add(store, key, strlen(key), value, value_len) != NULL)
            err = 0;
    } else {
        char *copy = carry__arena_alloc(store, value_len + 1);
        if (copy != NULL) {
            carry__copy_value(copy, value, value_len);
            atomic_store_explicit(&e->value, copy, memory_order_release);
            err = 0;
        }
    }
    carry__spin_unlock(lock);
    return err;
}

/* Setting the value a key already holds must not grow the store. */
int carry__store_set(struct carry__store *store, carry__spin *lock, const char *key,
                     const char *value)
{
    size_t value_len = strnlen(value, CARRY_VALUE_MAX + 1);
    if (value_len > CARRY_VALUE_MAX)
        return E2BIG;
    struct carry__entry *e = carry__store_find(store, key);
    const char *now = e ? atomic_load_explicit(&e->value, memory_order_acquire) : NULL;
    if (now != NULL && strcmp(now, value) == 0)
        return 0;
    return carry__store_write(store, lock, e, key, value, value_len);
}

int carry__store_setn(struct carry__store *store, carry__spin *lock, const char *key,
                      const char *value, size_t value_len)
{
    if (value_len > CARRY_VALUE_MAX)
        return E2BIG;
    struct carry__entry *e = carry__store_find(store, key);
    const char *now = e ? atomic_load_explicit(&e->value, memory_order_acquire) : NULL;
    if (now != NULL && strnlen(now, value_len + 1) == value_len &&
        memcmp(now, value, value_len) == 0)
        return 0;
    return carry__store_write(store, lock, e, key, value, value_len);
}

int carry__store_unset(struct carry__store *store, carry__spin *lock, const char *key)
{
    struct carry__entry *e = carry__store_find(store, key);
    if (e == NULL)
        return ENOENT;
    carry__spin_lock(lock);
    const char *old = atomic_load_explicit(&e->value, memory_order_relaxed);
    atomic_store_explicit(&e->value, NULL, memory_order_release);
    carry__spin_unlock(lock);
    return old ? 0 : ENOENT;
}

struct carry__chunk *carry__store_recycle(struct carry__store *store)
{
    struct carry__chunk *arena = carry__store_detach(store);
    if (arena == NULL || arena->next != NULL || arena->size != CARRY__CHUNK_FIRST)
        return arena;
    arena->used = 0;
    store->arena = arena;
    return NULL;
}

void carry__store_free_arena(struct carry__chunk *arena)
{
    for (struct carry__chunk *c = arena, *next; c != NULL; c = next) {
        next = c->next;
        if (c->size == CARRY__CHUNK_FIRST) {
            carry__pool_give(&carry__first_chunks, c);
        } else {
            /* A context dies on paths that leave the program's errno alone. */
            carry__free_keep_errno(c);
        }
    }
}
