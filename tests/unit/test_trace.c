/* Rule W: a context's trace identity, in OTEP 4947's record layout. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "context.h"
#include "current.h"

static uint64_t be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

/* The record's header is the OTEP's, byte for byte. */
Test(trace, record_layout_is_otep_4947s)
{
    cr_assert_eq(offsetof(struct carry__trace, trace_id), 0);
    cr_assert_eq(offsetof(struct carry__trace, span_id), 16);
    cr_assert_eq(offsetof(struct carry__trace, valid), 24);
    cr_assert_eq(offsetof(struct carry__trace, flags), 25);
    cr_assert_eq(offsetof(struct carry__trace, attrs_size), 26);
    cr_assert_eq(offsetof(struct carry__trace, attrs), 28);
    cr_assert_eq(offsetof(carry_ctx, trace) % 2, 0);
}

/* Hex digits are lowercase, the most significant first, for every
 * nibble value in every position (tags, derived keys and traceparents are
 * made of them). */
Test(trace, hex16_is_printfs_lowercase_hex)
{
    uint64_t v = UINT64_C(0x0123456789abcdef);
    for (int i = 0; i < 20000; i++) {
        char ours[17] = {0}, theirs[17];
        carry__hex16(ours, v);
        snprintf(theirs, sizeof theirs, "%016" PRIx64, v);
        cr_assert_str_eq(ours, theirs, "%016" PRIx64, v);
        /* Rotations walk every nibble value through every position; the
         * multiply mixes them into other combinations. */
        v = i % 2 ? (v << 4 | v >> 60) : v * UINT64_C(0x9e3779b97f4a7c15) + 1;
    }
    char edges[3][17] = {{0}};
    carry__hex16(edges[0], 0);
    carry__hex16(edges[1], UINT64_MAX);
    carry__hex16(edges[2], UINT64_C(0x9a9a9a9a9a9a9a9a));
    cr_assert_str_eq(edges[0], "0000000000000000");
    cr_assert_str_eq(edges[1], "ffffffffffffffff");
    cr_assert_str_eq(edges[2], "9a9a9a9a9a9a9a9a");
}

/* A new context starts a trace of its own: a non-zero trace-id that
 * differs from every other context's, its id as span-id, sampled, no
 * parent. */
Test(trace, new_contexts_start_traces_of_their_own)
{
    enum { N = 2000 };
    static uint64_t hi[N], lo[N];
    for (int i = 0; i < N; i++) {
        carry_ctx *ctx = carry__ctx_new();
        cr_assert_not_null(ctx);
        const struct carry__trace *t = &ctx->trace;
        cr_assert_eq(be64(t->span_id), ctx->id);
        cr_assert_eq(t->valid, 1);
        cr_assert_eq(t->flags, CARRY__TRACE_SAMPLED);
        cr_assert_eq(t->attrs_size, 0);
        cr_assert_eq(t->parent_span, 0);
        hi[i] = carry__trace_hi(t);
        lo[i] = carry__trace_lo(t);
        cr_assert(hi[i] != 0 || lo[i] != 0);
        for (int j = 0; j < i; j++)
            cr_assert(hi[j] != hi[i] || lo[j] != lo[i], "contexts %d and %d share a trace", j, i);
        carry__ctx_unref(ctx);
    }
}

Test(trace, adopts_a_traceparent_and_formats_its_own)
{
    carry_ctx *ctx = carry__ctx_new();
    carry__trace_adopt(&ctx->trace, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03");
    cr_assert_eq(carry__trace_hi(&ctx->trace), UINT64_C(0x0af7651916cd43dd));
    cr_assert_eq(carry__trace_lo(&ctx->trace), UINT64_C(0x8448eb211c80319c));
    cr_assert_eq(ctx->trace.parent_span, UINT64_C(0xb7ad6b7169203331));
    cr_assert_eq(ctx->trace.flags, 3);
    char text[CARRY__TRACEPARENT_TEXT + 1] = {0}, want[CARRY__TRACEPARENT_TEXT + 1];
    carry__trace_format(text, &ctx->trace);
    snprintf(want, sizeof want, "00-0af7651916cd43dd8448eb211c80319c-%016lx-03",
             (unsigned long)ctx->id);
    cr_assert_str_eq(text, want);
    carry__ctx_unref(ctx);
}

/* A context begun inside another is a child span of its trace. */
Test(trace, a_child_stays_in_its_parents_trace)
{
    carry_ctx *parent = carry__ctx_new(), *child = carry__ctx_new();
    carry__trace_adopt(&parent->trace, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    carry__trace_child(&child->trace, child->id, &parent->trace);
    cr_assert_eq(memcmp(child->trace.trace_id, parent->trace.trace_id, 16), 0);
    cr_assert_eq(child->trace.parent_span, parent->id);
    cr_assert_eq(be64(child->trace.span_id), child->id);
    cr_assert_eq(child->trace.flags, 0);
    carry__ctx_unref(child);
    carry__ctx_unref(parent);
}

/* Profilers see the method as entry key 0, length, bytes; a long one is
 * cut to what the record holds. */
Test(trace, publishes_the_method_as_an_otep_attribute)
{
    carry_ctx *ctx = carry__ctx_new();
    carry__trace_set_method(&ctx->trace, "GET", 3);
    cr_assert_eq(ctx->trace.attrs_size, 5);
    cr_assert_eq(memcmp(ctx->trace.attrs, "\0\3GET", 5), 0);
    carry__trace_set_method(&ctx->trace, "PROPPATCHXYZ", 12);
    cr_assert_eq(ctx->trace.attrs_size, 2 + CARRY__TRACE_METHOD_MAX);
    cr_assert_eq(ctx->trace.attrs[1], CARRY__TRACE_METHOD_MAX);
    carry__ctx_unref(ctx);
}

/* trace_id and span_id read back as hex, and stay put. */
Test(trace, trace_id_and_span_id_are_keys)
{
    carry_ctx *ctx = carry__ctx_new();
    carry__trace_adopt(&ctx->trace, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    const char *trace = carry__ctx_get(ctx, "trace_id"), *span = carry__ctx_get(ctx, "span_id");
    char want[17];
    snprintf(want, sizeof want, "%016lx", (unsigned long)ctx->id);
    cr_assert_str_eq(trace, "0af7651916cd43dd8448eb211c80319c");
    cr_assert_str_eq(span, want);
    cr_assert_eq(carry__ctx_get(ctx, "trace_id"), trace, "the same pointer each read");
    cr_assert_null(carry__ctx_get(ctx, "absent"));
    carry__ctx_unref(ctx);
}

/* OTEP 4947's name, as a profiler finds it. */
extern __thread const void *volatile otel_thread_ctx_v1;

/* The published pointer follows the current context. */
Test(trace, otel_thread_ctx_v1_follows_the_current_context)
{
    carry_ctx *ctx = carry__ctx_new_local();
    cr_assert_null((const void *)carry__otel_thread_ctx);
    carry__current_adopt(ctx);
    cr_assert_eq((const void *)otel_thread_ctx_v1, (const void *)&ctx->trace);
    carry__current_switch(NULL);
    cr_assert_null((const void *)carry__otel_thread_ctx);
}
