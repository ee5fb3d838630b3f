/*
 * A context's store (store.c): reads are wait-free; writes take the
 * context's lock.
 */
#ifndef CARRY_STORE_H
#define CARRY_STORE_H

#include "common.h"

const char *carry__store_get(carry_ctx *ctx, const char *key);
/* 0, or an errno value. */
int carry__store_set(carry_ctx *ctx, const char *key, const char *value);
int carry__store_unset(carry_ctx *ctx, const char *key);
/* Called once no reference is left: nothing reads concurrently. */
void carry__store_free(carry_ctx *ctx);

/* Fills keys and values (room for max each) with the keys that have a
 * value, newest first, and returns how many there are in all.  Allocates
 * nothing and takes no lock: safe in a signal handler. */
size_t carry__store_list(carry_ctx *ctx, const char **keys, const char **values, size_t max);

/* Validates a key: 0, or an errno value. */
int carry__key_check(const char *key, size_t *len);

#endif /* CARRY_STORE_H */
