/*
 * A context's store: a list of entries, newest first, each with an atomic
 * pointer to its current value.  Readers walk it without a lock; writers
 * serialise on the store's lock and publish with release stores.  Entries
 * and values, once published, stay until the context dies, so pointers
 * handed out by carry_get stay valid while the context lives.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "store.h"

/*
 * Entries and values live in a per-store arena of chunks, bumped under the
 * store's lock and freed all together when the context dies: values must
 * outlive their replacement anyway, and a bump is far cheaper than malloc.
 */
struct carry__chunk {
    struct carry__chunk *next;
    size_t used, size;
    _Alignas(8) char bytes[];
};

#define CARRY__CHUNK_FIRST 104  /* a 128-byte first chunk holds a couple of keys */
#define CARRY__CHUNK_MAX 4096

/* First chunks, which nearly every context has (a connection's peer and
 * local), come from a pool; larger ones from malloc. */
struct carry__first_chunk {
    struct carry__chunk head;
    char bytes[CARRY__CHUNK_FIRST];
};

static struct carry__pool carry__first_chunks =
    CARRY__POOL_INIT(struct carry__first_chunk, head.next, 256, NULL, true, "context stores");

struct carry__entry {
    struct carry__entry *next;       /* fixed once published */
    _Atomic(const char *) value;     /* NULL: unset */
    char key[];
};

/* Allocates size bytes from the store's arena; call with its lock held. */
static void *carry__arena_alloc(struct carry__store *store, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    struct carry__chunk *head = store->arena;
    if (head == NULL || head->size - head->used < size) {
        size_t room = head ? head->size * 2 : CARRY__CHUNK_FIRST;
        if (room > CARRY__CHUNK_MAX)
            room = CARRY__CHUNK_MAX;
        if (room < size)
            room = size;
        struct carry__chunk *chunk = room == CARRY__CHUNK_FIRST
                                         ? carry__pool_take(&carry__first_chunks)
                                         : malloc(sizeof *chunk + room);
        if (chunk == NULL)
            return NULL;
        chunk->used = 0;
        chunk->size = room;
        /* A chunk made for one big value goes behind the head, which keeps
         * its free room for the small ones. */
        if (head != NULL && room == size && head->size - head->used >= 64) {
            chunk->next = head->next;
            head->next = chunk;
        } else {
            chunk->next = head;
            store->arena = chunk;
        }
        head = chunk;
    }
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

static struct carry__entry *carry__store_find(struct carry__store *store, const char *key)
{
    struct carry__entry *e = atomic_load_explicit(&store->entries, memory_order_acquire);
    /* Inline rather than strcmp: keys are short and a call costs more than
     * the comparison. */
    for (; e != NULL; e = e->next) {
        const char *a = e->key, *b = key;
        while (*a == *b && *a != '\0')
            a++, b++;
        if (*a == *b)
            return e;
    }
    return NULL;
}

const char *carry__store_get(struct carry__store *store, const char *key)
{
    struct carry__entry *e = carry__store_find(store, key);
    return e ? atomic_load_explicit(&e->value, memory_order_acquire) : NULL;
}

size_t carry__store_list(struct carry__store *store, const char **keys, const char **values,
                         size_t max)
{
    size_t n = 0;
    for (struct carry__entry *e = atomic_load_explicit(&store->entries, memory_order_acquire);
         e != NULL; e = e->next) {
        const char *value = atomic_load_explicit(&e->value, memory_order_acquire);
        if (value == NULL)
            continue;
        if (n < max) {
            keys[n] = e->key;
            values[n] = value;
        }
        n++;
    }
    return n;
}

int carry__store_set(struct carry__store *store, const char *key, const char *value)
{
    size_t value_len = strnlen(value, CARRY_VALUE_MAX + 1);
    if (value_len > CARRY_VALUE_MAX)
        return E2BIG;

    struct carry__entry *e = carry__store_find(store, key);
    if (e != NULL) {
        /* Setting the value a key already holds must not grow the store. */
        const char *now = atomic_load_explicit(&e->value, memory_order_acquire);
        if (now != NULL && strcmp(now, value) == 0)
            return 0;
    }

    int err = ENOMEM;
    carry__spin_lock(&store->lock);
    /* Entries are never removed: one found above is still there, and one
     * missed may have been added since by another writer. */
    if (e == NULL)
        e = carry__store_find(store, key);
    char *copy = carry__arena_alloc(store, value_len + 1);
    if (copy != NULL) {
        memcpy(copy, value, value_len + 1);
        if (e != NULL) {
            atomic_store_explicit(&e->value, copy, memory_order_release);
            err = 0;
        } else {
            size_t key_len = strlen(key);
            e = carry__arena_alloc(store, sizeof *e + key_len + 1);
            if (e != NULL) {
                memcpy(e->key, key, key_len + 1);
                atomic_init(&e->value, copy);
                e->next = atomic_load_explicit(&store->entries, memory_order_relaxed);
                atomic_store_explicit(&store->entries, e, memory_order_release);
                err = 0;
            }
        }
    }
    carry__spin_unlock(&store->lock);
    return err;
}

int carry__store_unset(struct carry__store *store, const char *key)
{
    struct carry__entry *e = carry__store_find(store, key);
    if (e == NULL)
        return ENOENT;
    carry__spin_lock(&store->lock);
    const char *old = atomic_load_explicit(&e->value, memory_order_relaxed);
    atomic_store_explicit(&e->value, NULL, memory_order_release);
    carry__spin_unlock(&store->lock);
    return old ? 0 : ENOENT;
}

/* Called once no reference is left: nothing reads concurrently. */
void carry__store_free(struct carry__store *store)
{
    for (struct carry__chunk *c = store->arena, *next; c != NULL; c = next) {
        next = c->next;
        if (c->size == CARRY__CHUNK_FIRST)
            carry__pool_give(&carry__first_chunks, c);
        else
            free(c);
    }
    store->arena = NULL;
    atomic_store_explicit(&store->entries, NULL, memory_order_relaxed);
}
