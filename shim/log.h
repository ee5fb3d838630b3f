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

/* Tests capture warnings by installing a sink; NULL restores stderr. */
typedef void carry__warn_sink_fn(const char *line, size_t len);
void carry__set_warn_sink(carry__warn_sink_fn *sink);

#endif /* CARRY_LOG_H */
