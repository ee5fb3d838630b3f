/*
 * Rule O: a request context is a SERVER span (span.c).  It starts at the
 * request's first read and ends at its last write on its connection (or,
 * for a datagram, its last reply); what carry knows of it is sent when the
 * context dies, which is after the next request of its connection began
 * or the connection closed.  Nothing here runs unless export is on.
 */
#ifndef CARRY_SPAN_H
#define CARRY_SPAN_H

#include <time.h>

#include "common.h"
#include "export.h"
#include "store.h"
#include "trace.h"

static inline uint64_t carry__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The times are read at exit by another thread (context.c): relaxed
 * atomics, which cost plain loads and stores. */
static inline uint64_t carry__span_started(const struct carry__trace *t)
{
    return __atomic_load_n(&t->start_ns, __ATOMIC_RELAXED);
}

/* A request (or datagram) whose record is t begins: its span starts,
 * when export is on and the trace is sampled. */
static inline void carry__span_begin(struct carry__trace *t)
{
    if (carry__export_on() && (t->flags & CARRY__TRACE_SAMPLED)) {
        uint64_t now = carry__now_ns();
        __atomic_store_n(&t->end_ns, now, __ATOMIC_RELAXED);
        __atomic_store_n(&t->start_ns, now, __ATOMIC_RELAXED);
    }
}

/* The request wrote to its peer: its span ends here, unless it writes
 * again. */
void carry__span_wrote_now(struct carry__trace *t);

static inline void carry__span_wrote(struct carry__trace *t)
{
    /* The process-wide flag first: without export, the context's second
     * cache line is not touched, and the clock is read out of line, so
     * that a write without export saves no registers for it. */
    if (carry__export_on() && carry__span_started(t) != 0)
        carry__span_wrote_now(t);
}

/* The span of t, begun at start, ends: queue it for export, with the keys
 * of its context's own store and, for a request, of its connection's
 * (conn, else NULL), and the peer and local addresses (NULL: none). */
void carry__span_end(const struct carry__trace *t, uint64_t start, uint64_t id,
                     struct carry__store *own, struct carry__store *conn, const char *peer,
                     const char *local);

#endif /* CARRY_SPAN_H */
