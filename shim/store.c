/*
 * A context's store: a list of entries, newest first, each with an atomic
 * pointer to its current value.  Readers walk it without a lock; writers
 * serialise on the context's lock and publish with release stores.  An
 * entry, once published, stays until the context dies; a replaced value is
 * retired to a list and freed with the context, so pointers handed out by
 * carry_get stay valid while the context lives.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct carry__value {
    struct carry__value *retired_next;
    char bytes[];
};

struct carry__entry {
    struct carry__entry *next;              /* fixed once published */
    _Atomic(struct carry__value *) value;   /* NULL: unset */
    char key[];
};

int carry__key_check(const char *key, size_t *len)
{
    if (key == NULL || key[0] == '\0')
        return EINVAL;
    *len = strnlen(key, CARRY_KEY_MAX + 1);
    return *len > CARRY_KEY_MAX ? ENAMETOOLONG : 0;
}

/* Inline rather than strcmp: keys are short and a call costs more than
 * the comparison. */
static inline bool carry__key_equal(const char *a, const char *b)
{
    while (*a == *b) {
        if (*a == '\0')
            return true;
        a++;
        b++;
    }
    return false;
}

static struct carry__entry *carry__store_find(carry_ctx *ctx, const char *key)
{
    struct carry__entry *e = atomic_load_explicit(&ctx->entries, memory_order_acquire);
    for (; e != NULL; e = e->next)
        if (carry__key_equal(e->key, key))
            return e;
    return NULL;
}

const char *carry__store_get(carry_ctx *ctx, const char *key)
{
    struct carry__entry *e = carry__store_find(ctx, key);
    if (e == NULL)
        return NULL;
    struct carry__value *v = atomic_load_explicit(&e->value, memory_order_acquire);
    return v ? v->bytes : NULL;
}

/* Replaces e's value with v (NULL: unset) under the lock; the old value is
 * retired.  Returns the old value. */
static struct carry__value *carry__store_replace(carry_ctx *ctx, struct carry__entry *e,
                                                 struct carry__value *v)
{
    struct carry__value *old = atomic_exchange_explicit(&e->value, v, memory_order_acq_rel);
    if (old != NULL) {
        old->retired_next = ctx->retired;
        ctx->retired = old;
    }
    return old;
}

int carry__store_set(carry_ctx *ctx, const char *key, const char *value)
{
    size_t key_len = strlen(key);
    size_t value_len = strnlen(value, CARRY_VALUE_MAX + 1);
    if (value_len > CARRY_VALUE_MAX)
        return E2BIG;

    /* Setting the value a key already holds must not grow the store. */
    const char *now = carry__store_get(ctx, key);
    if (now != NULL && strcmp(now, value) == 0)
        return 0;

    struct carry__value *v = malloc(sizeof *v + value_len + 1);
    if (v == NULL)
        return ENOMEM;
    memcpy(v->bytes, value, value_len + 1);

    /* Allocate a new entry outside the lock if the key looks new; a racing
     * writer may add it first, and then the spare is freed. */
    struct carry__entry *spare = NULL;
    if (carry__store_find(ctx, key) == NULL) {
        spare = malloc(sizeof *spare + key_len + 1);
        if (spare == NULL) {
            free(v);
            return ENOMEM;
        }
        memcpy(spare->key, key, key_len + 1);
    }

    /* Entries are never removed, so a key missed above but present now was
     * added by a racing writer, and a key missing now has its spare. */
    carry__spin_lock(&ctx->lock);
    struct carry__entry *e = carry__store_find(ctx, key);
    if (e != NULL) {
        carry__store_replace(ctx, e, v);
    } else {
        e = spare;
        spare = NULL;
        atomic_init(&e->value, v);
        e->next = atomic_load_explicit(&ctx->entries, memory_order_relaxed);
        atomic_store_explicit(&ctx->entries, e, memory_order_release);
    }
    carry__spin_unlock(&ctx->lock);
    free(spare);
    return 0;
}

int carry__store_unset(carry_ctx *ctx, const char *key)
{
    struct carry__entry *e = carry__store_find(ctx, key);
    if (e == NULL)
        return ENOENT;
    carry__spin_lock(&ctx->lock);
    struct carry__value *old = carry__store_replace(ctx, e, NULL);
    carry__spin_unlock(&ctx->lock);
    return old ? 0 : ENOENT;
}

/* Called once no reference is left: nothing reads concurrently. */
void carry__store_free(carry_ctx *ctx)
{
    struct carry__entry *e = atomic_load_explicit(&ctx->entries, memory_order_acquire);
    while (e != NULL) {
        struct carry__entry *next = e->next;
        free(atomic_load_explicit(&e->value, memory_order_relaxed));
        free(e);
        e = next;
    }
    for (struct carry__value *v = ctx->retired; v != NULL;) {
        struct carry__value *next = v->retired_next;
        free(v);
        v = next;
    }
    atomic_store_explicit(&ctx->entries, NULL, memory_order_relaxed);
    ctx->retired = NULL;
}
