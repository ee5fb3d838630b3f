/*
 * CARRY_STATS counters: one relaxed atomic add per event, paid only when
 * the variable is set (otherwise one predictable branch).  The report at
 * exit is report.c's.
 */
#ifndef CARRY_STATS_H
#define CARRY_STATS_H

#include "common.h"

enum carry__boundary {
    CARRY__B_THREADS,
    CARRY__B_EPOLL,
    CARRY__B_LIBEVENT,
    CARRY__B_LIBEV,
    CARRY__B_LIBUV,
    CARRY__BOUNDARIES
};

enum { CARRY__CAPTURED, CARRY__RESTORED, CARRY__WITHOUT };

struct carry__stats {
    _Atomic uint64_t flow[CARRY__BOUNDARIES][3]; /* captures, restores, none */
    _Atomic uint64_t created, peak, accepted, connected, mismatches;
    /* A forked child: the contexts alive when it was made. */
    _Atomic uint64_t inherited;
    /* Rule R: requests begun, and the most on one connection. */
    _Atomic uint64_t requests, requests_max;
    /* HTTP/1.x request heads read, traceparents adopted and rejected. */
    _Atomic uint64_t http_heads, traceparents, traceparents_rejected;
    /* Rule W outgoing (CARRY_TRACE=inject): traceparents put into requests
     * the process sent, and parent-ids rewritten in the ones it forwarded. */
    _Atomic uint64_t traceparents_injected, traceparents_rewritten;
    /* Rule R on datagram sockets: datagrams received, each a request
     * context; and those past a batch's bound, which got none. */
    _Atomic uint64_t datagrams, datagrams_unbatched;
    /* Rule H, channels: hand-offs by kind (pipe, eventfd, socketpair: the
     * order of chan.h), writes a read took beside the one whose context it
     * took (merged), and records past a channel's bound (dropped). */
    _Atomic uint64_t handoffs[3], handoffs_merged, handoffs_dropped;
    /* Rule H's condition variables: contexts woken waiters took; signals'
     * records replaced before a waiter took them; waits that returned 0
     * with no record made since they began. */
    _Atomic uint64_t condvar_handoffs, condvar_merged, condvar_none;
    /* Work that ran with no context because carry could not allocate its
     * bookkeeping (a pool, an fd map, an epoll fd carry cannot track). */
    _Atomic uint64_t lost_to_memory;
    /* Rule L: libuv requests in flight whose records live in the request
     * itself (records.c), and the most at once. */
    _Atomic uint64_t uv_requests, uv_requests_max;
    /* Rule O: spans the collector took; spans not queued (the queue was
     * full); spans whose sends failed (dropped after the retries); and
     * attributes left out of a span for want of room. */
    _Atomic uint64_t spans_exported, spans_dropped, spans_failed, spans_truncated;
};

extern struct carry__stats carry__stats;
extern _Atomic bool carry__stats_on; /* CARRY_STATS is set */

static inline bool carry__counting(void)
{
    return CARRY__UNLIKELY(atomic_load_explicit(&carry__stats_on, memory_order_relaxed));
}

static inline void carry__count(_Atomic uint64_t *counter)
{
    if (carry__counting())
        atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static inline void carry__count_add(_Atomic uint64_t *counter, uint64_t n)
{
    if (carry__counting())
        atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* Work was scheduled at boundary b while ctx was current. */
static inline void carry__count_capture(enum carry__boundary b, const carry_ctx *ctx)
{
    if (carry__counting() && ctx != NULL)
        atomic_fetch_add_explicit(&carry__stats.flow[b][CARRY__CAPTURED], 1, memory_order_relaxed);
}

/* Work was dispatched at boundary b, to run in ctx (NULL: none). */
static inline void carry__count_dispatch(enum carry__boundary b, const carry_ctx *ctx)
{
    if (carry__counting())
        atomic_fetch_add_explicit(&carry__stats.flow[b][ctx ? CARRY__RESTORED : CARRY__WITHOUT], 1,
                                  memory_order_relaxed);
}

/* *most becomes value if value is more (a peak, a maximum). */
void carry__stats_raise(_Atomic uint64_t *most, uint64_t value);

/* A context was made; live are alive now. */
void carry__stats_context_born(uint64_t live);

/* A forked child counts afresh, from the live contexts it inherited. */
void carry__stats_reset(uint64_t live);

#endif /* CARRY_STATS_H */
