/*
 * What every file of the core includes: the compiler hints, the export
 * marker and the public types.  Nothing here knows about any module.
 */
#ifndef CARRY_COMMON_H
#define CARRY_COMMON_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "carry.h"

#define CARRY__EXPORT __attribute__((visibility("default")))
#define CARRY__LIKELY(x) __builtin_expect(!!(x), 1)
#define CARRY__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CARRY__COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* free for paths that leave the program's errno alone: an allocator's
 * free may set it. */
static inline void carry__free_keep_errno(void *p)
{
    int saved_errno = errno;
    free(p);
    errno = saved_errno;
}

#endif /* CARRY_COMMON_H */
