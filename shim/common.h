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
/* A variable whose cleanup ends a scope: fn(&var) runs however the scope
 * ends (return, cancellation, unwinding).  Marked used for clang, which
 * takes a variable that nothing reads for an unused one. */
#define CARRY__SCOPED(fn) __attribute__((cleanup(fn), unused))

/* The stack pointer: how deep the calling function runs, with no frame of
 * its own needed to tell. */
static inline __attribute__((always_inline)) uintptr_t carry__stack_depth(void)
{
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__("mov %0, sp" : "=r"(sp));
#else
    sp = (uintptr_t)__builtin_frame_address(0);
#endif
    return sp;
}

/* memcpy without a call for the up to 32 bytes that most keys, values
 * and socket addresses have: two moves that overlap when n is not their
 * sum. */
static inline __attribute__((always_inline)) void carry__copy(char *dst, const char *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t head, tail;
        __builtin_memcpy(&head, src, 8);
        __builtin_memcpy(&tail, src + n - 8, 8);
        __builtin_memcpy(dst, &head, 8);
        __builtin_memcpy(dst + n - 8, &tail, 8);
    } else if (n > 16 && n <= 32) {
        struct { char b[16]; } head, tail;
        __builtin_memcpy(&head, src, 16);
        __builtin_memcpy(&tail, src + n - 16, 16);
        __builtin_memcpy(dst, &head, 16);
        __builtin_memcpy(dst + n - 16, &tail, 16);
    } else if (n >= 4 && n < 8) {
        uint32_t head, tail;
        __builtin_memcpy(&head, src, 4);
        __builtin_memcpy(&tail, src + n - 4, 4);
        __builtin_memcpy(dst, &head, 4);
        __builtin_memcpy(dst + n - 4, &tail, 4);
    } else if (n > 0 && n < 4) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    } else if (n > 32) {
        __builtin_memcpy(dst, src, n);
    }
}

/* free for paths that leave the program's errno alone: an allocator's
 * free may set it. */
static inline void carry__free_keep_errno(void *p)
{
    int saved_errno = errno;
    free(p);
    errno = saved_errno;
}

#endif /* CARRY_COMMON_H */
