/*
 * Rule W, the W3C trace identity of every context (trace.c), kept in the
 * layout of the OpenTelemetry thread context record (OTEP 4947) so that
 * publishing a context to profilers is one pointer store (rule P).
 *
 * A context's span-id is its id.  Ids are a keyed permutation of a
 * counter: unique in the process (a permutation of distinct inputs) and
 * non-zero, yet not guessable from one another, since span-ids of
 * several hosts meet in one trace.  A new trace's trace-id is derived
 * from the context's id under two more keys, so it is as unique as the id
 * and costs no state per thread.  The keys come from getrandom once per
 * process image; a forked child keeps them (its counter's inputs carry
 * its own pid, so its ids differ from its parent's).
 */
#ifndef CARRY_TRACE_H
#define CARRY_TRACE_H

#include "common.h"

/* The trace flags carry gives a trace it starts: sampled (it exports
 * every request). */
#define CARRY__TRACE_SAMPLED 0x01

/* OTEP 4947 attribute key indexes, named in the process context
 * (carry__trace_key_map). */
enum { CARRY__TRACE_ATTR_METHOD, CARRY__TRACE_ATTRS };

#define CARRY__TRACE_METHOD_MAX 10 /* bytes of an HTTP method profilers see */

/*
 * A context's second cache line.  The first 28 bytes and attrs are the
 * OTEP 4947 record, byte-packed as the OTEP lays it out (no padding, as
 * the natural alignment gives); the rest is carry's.
 */
struct carry__trace {
    uint8_t trace_id[16];
    uint8_t span_id[8];         /* the context's id, big-endian */
    uint8_t valid;              /* 1: the record is complete */
    uint8_t flags;              /* W3C trace-flags */
    uint16_t attrs_size;        /* bytes of attrs in use */
    uint8_t attrs[12];          /* entries: key index, length, value */
    uint64_t parent_span;       /* the caller's span-id (0: a root span) */
    uint64_t start_ns, end_ns;  /* rule O: first read, last write (CLOCK_REALTIME) */
};

_Static_assert(sizeof(struct carry__trace) == 64, "one cache line");
_Static_assert(offsetof(struct carry__trace, attrs) == 28, "OTEP 4947's header is 28 bytes");

/* The process's keys (trace.c), set once by carry__trace_seed. */
extern uint64_t carry__trace_keys[4];

/* Seeds the keys if no thread has yet (getrandom once per process). */
void carry__trace_seed(void);

/* A keyed permutation of 64-bit numbers: each step (xor with a key,
 * multiplication by an odd constant, xor with a right shift of itself) is
 * invertible, so distinct inputs give distinct outputs. */
static inline uint64_t carry__trace_mix(uint64_t x, uint64_t k)
{
    x = (x ^ k) * 0xbf58476d1ce4e5b9u;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebu;
    return x ^ (x >> 29);
}

/* A fresh id from the counter value raw (once carry__trace_seed ran): two
 * keyed rounds.  0 for one raw value only, which the caller skips. */
static inline uint64_t carry__trace_permute(uint64_t raw)
{
    return carry__trace_mix(carry__trace_mix(raw, carry__trace_keys[0]), carry__trace_keys[1]);
}

static inline void carry__trace_put_be64(uint8_t *out, uint64_t v)
{
    v = __builtin_bswap64(v);
    __builtin_memcpy(out, &v, 8);
}

/* t's fields but the trace-id, for a context of id: valid, no parent, no
 * span begun (rule O reads the times from another thread at exit:
 * relaxed atomics, plain stores). */
static inline __attribute__((always_inline)) void
carry__trace_record(struct carry__trace *t, uint64_t id, uint8_t flags)
{
    carry__trace_put_be64(t->span_id, id);
    t->valid = 1;
    t->flags = flags;
    t->attrs_size = 0;
    t->parent_span = 0;
    __atomic_store_n(&t->start_ns, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&t->end_ns, 0, __ATOMIC_RELAXED);
}

/* t begins a new trace, as its root span.  The trace-id is one keyed
 * multiplication of id (already a permutation) to 128 bits: its low half
 * is a bijection of id, so the trace-id is as unique as id and says
 * nothing of it; its first half is odd, so it is never all zero.  Random
 * bytes in any order are as random: stored as they are, not
 * byte-swapped.  Always inline, with carry__trace_record: each request's
 * renewal (rule R) starts one, in a function GCC would otherwise call
 * them from. */
static inline __attribute__((always_inline)) void
carry__trace_start(struct carry__trace *t, uint64_t id)
{
    unsigned __int128 x = (unsigned __int128)(id ^ carry__trace_keys[2]) * 0x9e3779b97f4a7c15u;
    uint64_t hi = ((uint64_t)(x >> 64) ^ carry__trace_keys[3]) | UINT64_C(1) << 56;
    uint64_t lo = (uint64_t)x;
    __builtin_memcpy(t->trace_id, &hi, 8);
    __builtin_memcpy(t->trace_id + 8, &lo, 8);
    carry__trace_record(t, id, CARRY__TRACE_SAMPLED);
}

/* t, span id, is a child of parent's span in parent's trace. */
void carry__trace_child(struct carry__trace *t, uint64_t id, const struct carry__trace *parent);

/* t adopts a validated W3C traceparent (version 00 fields, 55 bytes): its
 * trace, its parent span, its flags. */
void carry__trace_adopt(struct carry__trace *t, const char *traceparent);

/* Publishes an HTTP method (the first CARRY__TRACE_METHOD_MAX bytes) to
 * profilers, before the context is current anywhere. */
void carry__trace_set_method(struct carry__trace *t, const char *method, size_t len);

/* The trace-id as two big-endian halves. */
static inline uint64_t carry__trace_hi(const struct carry__trace *t)
{
    uint64_t v;
    __builtin_memcpy(&v, t->trace_id, 8);
    return __builtin_bswap64(v);
}

static inline uint64_t carry__trace_lo(const struct carry__trace *t)
{
    uint64_t v;
    __builtin_memcpy(&v, t->trace_id + 8, 8);
    return __builtin_bswap64(v);
}

#define CARRY__TRACEPARENT_TEXT 55 /* "00-" 32 "-" 16 "-" 2 */

/* Writes t's traceparent (its trace, its own span as the parent of what
 * it calls, its flags), CARRY__TRACEPARENT_TEXT bytes, no NUL. */
void carry__trace_format(char *out, const struct carry__trace *t);

/* The value of a hex digit, in either case, or -1. */
static inline int carry__unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Lowercase hex of v, 16 digits, no NUL. */
void carry__hex16(char *out, uint64_t v);

#endif /* CARRY_TRACE_H */
