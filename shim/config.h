/*
 * The CARRY_* environment variables, parsed once at start-up (init.c).
 */
#ifndef CARRY_CONFIG_H
#define CARRY_CONFIG_H

#include "common.h"

/* Propagation rules, as CARRY_MODE names them. */
enum {
    CARRY__RULE_THREADS = 1u << 0,  /* T */
    CARRY__RULE_EPOLL = 1u << 1,    /* D and E */
    CARRY__RULE_ACCEPT = 1u << 2,   /* C */
    CARRY__RULE_LOOPS = 1u << 3,    /* L */
    CARRY__RULE_DATAFLOW = 1u << 4, /* H */
    CARRY__RULE_REQUESTS = 1u << 5, /* R */
    CARRY__RULE_CHANNELS = 1u << 6, /* H: pipes, eventfds, socketpairs */
};
#define CARRY__MODE_EVENTS \
    (CARRY__RULE_THREADS | CARRY__RULE_EPOLL | CARRY__RULE_ACCEPT | CARRY__RULE_LOOPS | \
     CARRY__RULE_REQUESTS | CARRY__RULE_CHANNELS)
#define CARRY__MODE_ALL (CARRY__MODE_EVENTS | CARRY__RULE_DATAFLOW)

/* CARRY_TAG outputs.  Bit n of the standard outputs is fd n, so that a
 * write can test its fd with one shift. */
enum {
    CARRY__TAG_STDOUT = 1u << 1,
    CARRY__TAG_STDERR = 1u << 2,
    CARRY__TAG_SYSLOG = 1u << 3,
};
#define CARRY__TAG_FDS (CARRY__TAG_STDOUT | CARRY__TAG_STDERR)

/* CARRY_TRACE (rule W): in the order of its names, adopt the default. */
enum carry__trace_mode { CARRY__TRACE_ADOPT, CARRY__TRACE_OFF, CARRY__TRACE_INJECT };

struct carry__config {
    unsigned mode;     /* CARRY__RULE_* bits */
    int debug;         /* CARRY_DEBUG, 0..3 */
    bool inherit;      /* CARRY_INHERIT */
    bool epoll_batch;  /* CARRY_EPOLL=batch */
    bool crash;        /* CARRY_CRASH */
    bool active;       /* false when CARRY_ONLY / CARRY_SKIP make carry passive */
    const char *stats; /* CARRY_STATS: "stderr", a path, or NULL */
    unsigned tag;      /* CARRY_TAG: CARRY__TAG_* bits, 0 when passive */
    enum carry__trace_mode trace; /* CARRY_TRACE */
    bool tag_otel;     /* CARRY_TAG_FORMAT=otel */
};

extern struct carry__config carry__config;

/* Where configuration comes from; getenv-like.  Tests pass their own. */
typedef const char *carry__getenv_fn(const char *name);

/* Parses the CARRY_* variables into *out, warning once per bad value
 * through carry__warn.  program is the name CARRY_ONLY / CARRY_SKIP match. */
void carry__config_parse(struct carry__config *out, carry__getenv_fn *getenv_fn,
                         const char *program);

#endif /* CARRY_CONFIG_H */
