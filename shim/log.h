/*
 * carry's own diagnostics: "carry: <message>\n" to stderr with one raw
 * write, no stdio, no allocation, so it is safe from any wrapper.
 */
#ifndef CARRY_LOG_H
#define CARRY_LOG_H

#include <stddef.h>

#include "common.h"

void carry__warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CARRY_DEBUG, 0..3; set from the configuration at start-up. */
extern int carry__debug_level;

/* Logs only at or above the CARRY_DEBUG level. */
#define carry__debug(level, ...) \
    do { \
        if (CARRY__UNLIKELY(carry__debug_level >= (level))) \
            carry__warn(__VA_ARGS__); \
    } while (0)

/* carry's own invariants, checked in the sanitizer builds the suite runs
 * (a broken one is carry's bug, which the tests must see: the process
 * says which and aborts) and compiled out of the others, so that hot
 * paths pay nothing for them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CARRY__INVARIANT(cond, what) \
    do { \
        if (CARRY__UNLIKELY(!(cond))) \
            carry__invariant_broken(what, __FILE__, __LINE__); \
    } while (0)
#else
#define CARRY__INVARIANT(cond, what) \
    do { \
    } while (0)
#endif
_Noreturn void carry__invariant_broken(const char *what, const char *file, int line);

/* Tests capture warnings by installing a sink; NULL restores stderr. */
typedef void carry__warn_sink_fn(const char *line, size_t len);
void carry__set_warn_sink(carry__warn_sink_fn *sink);

#endif /* CARRY_LOG_H */
