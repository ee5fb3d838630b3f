/*
 * The current context of each thread, and the thread references that code
 * running in a context holds (current.c).
 *
 * A thread reference is one a thread takes and gives back itself (its
 * current context, a callback's scope).  In a context the thread owns it
 * counts in biased, with no atomic operation; elsewhere in refs.
 */
#ifndef CARRY_CURRENT_H
#define CARRY_CURRENT_H

#include "common.h"
#include "context.h"
#include "log.h"
#include "self.h"

static inline carry_ctx *carry__current(void)
{
    return carry__self.current;
}

/*
 * Rule P: the thread's current context published as the OpenTelemetry
 * thread context (OTEP 4947), which a profiler reads from outside the
 * process while the thread is stopped: a pointer to the context's record,
 * NULL when there is none.  Exported as otel_thread_ctx_v1, the name the
 * OTEP gives; carry's own code uses this hidden alias, so that it never
 * refers to one of its exports through a dynamic relocation.  The thread keeps its context alive while it
 * is current, so the record stays valid while published.
 */
extern __thread const struct carry__trace *volatile carry__otel_thread_ctx
    __attribute__((tls_model("initial-exec")));

/* A thread that needs carry__thread_finish at exit (it holds a context, owns
 * contexts or holds queued events) arms the hook once. */
void carry__current_arm_exit(void);

/* Sets the current context, and what profilers see, with no reference
 * taken or given. */
static inline void carry__current_set(struct carry__thread *self, carry_ctx *ctx)
{
    self->current = ctx;
    /* Dead is exactly CARRY__REF_DEAD (a request being renewed has the
     * bit too).  After the store: before it, GCC 12's -fsanitize=null
     * check of self took the flags of this test's load. */
    CARRY__INVARIANT(ctx == NULL ||
                         atomic_load_explicit(&ctx->refs, memory_order_relaxed) != CARRY__REF_DEAD,
                     "a dead context made current");
    /* The record is complete before it is published; a compiler fence is
     * all a reader that interrupts this thread needs (OTEP 4947). */
    atomic_signal_fence(memory_order_release);
    carry__otel_thread_ctx = ctx != NULL ? &ctx->trace : NULL;
}

/* The current context's record is about to change in place: profilers
 * see none until carry__current_republish. */
static inline void carry__current_unpublish(void)
{
    carry__otel_thread_ctx = NULL;
    atomic_signal_fence(memory_order_seq_cst);
}

static inline void carry__current_republish(carry_ctx *current)
{
    atomic_signal_fence(memory_order_release);
    carry__otel_thread_ctx = &current->trace;
}

/* Does this thread own ctx (its references counted in biased)?  Always
 * inline: every switch and every request's renewal asks. */
static inline __attribute__((always_inline)) bool carry__ctx_owned(const carry_ctx *ctx)
{
    struct carry__owner *mine = carry__self.owner;
    return mine != NULL && atomic_load_explicit(&ctx->owner, memory_order_relaxed) == mine;
}

/* A thread reference to ctx, which the caller knows to be alive. */
static inline void carry__ctx_ref_local(carry_ctx *ctx)
{
    if (carry__ctx_owned(ctx))
        ctx->biased++;
    else
        carry__ctx_ref(ctx);
}

static inline void carry__ctx_unref_local(carry_ctx *ctx)
{
    if (!carry__ctx_owned(ctx)) {
        carry__ctx_unref(ctx);
        return;
    }
    CARRY__INVARIANT(ctx->biased != 0, "a thread reference let go of twice");
    if (--ctx->biased == 0 && atomic_load_explicit(&ctx->refs, memory_order_acquire) == 0)
        carry__ctx_settle(ctx);
}

/* Turns a reference in refs, which the caller holds, into a thread
 * reference. */
static inline carry_ctx *carry__ctx_localize(carry_ctx *ctx)
{
    if (ctx != NULL && carry__ctx_owned(ctx)) {
        ctx->biased++;
        carry__ctx_unref(ctx);
    }
    return ctx;
}

/* A thread reference to the context a shared slot holds, or NULL.  The
 * owner needs no atomics: a context its slot held cannot die before its
 * owner lets it (carry__ctx_put). */
static inline carry_ctx *carry__slot_take_local(carry__slot *slot)
{
    carry_ctx *ctx = atomic_load_explicit(slot, memory_order_acquire);
    if (ctx != NULL && carry__ctx_owned(ctx)) {
        ctx->biased++;
        return ctx;
    }
    return ctx != NULL ? carry__slot_take(slot) : NULL;
}

/* A new context owned by this thread, with one thread reference for the
 * caller, or NULL with errno ENOMEM. */
carry_ctx *carry__ctx_new_local(void);

/* The same with an internal reference in refs instead. */
carry_ctx *carry__ctx_new(void);

/* Has this thread contexts that other threads let go of to reclaim? */
static inline bool carry__ctx_drain_due(void)
{
    struct carry__owner *mine = carry__self.owner;
    return CARRY__UNLIKELY(mine != NULL && carry__owner_queued(mine));
}

/* Contexts other threads let go of while this thread owned them: those
 * that have no reference left die now (at rule-D points, thread exit). */
static inline void carry__ctx_drain(void)
{
    if (carry__ctx_drain_due())
        carry__owner_drain(carry__self.owner);
}

/* Makes ctx current, taking a thread reference of its own (NULL: none),
 * and releases the context that was. */
void carry__current_switch(carry_ctx *ctx);

/* Makes ctx current with the thread reference the caller holds, which
 * passes to the thread; returns the context that was, whose thread
 * reference passes to the caller. */
static inline carry_ctx *carry__current_exchange(carry_ctx *ctx)
{
    struct carry__thread *self = &carry__self;
    carry_ctx *old = self->current;
    carry__current_set(self, ctx);
    if (ctx != NULL && CARRY__UNLIKELY(!self->exit_hook))
        carry__current_arm_exit();
    return old;
}

/* The same, releasing the context that was.  Inline: every callback's
 * scope ends with one. */
static inline void carry__current_adopt(carry_ctx *ctx)
{
    carry_ctx *old = carry__current_exchange(ctx);
    if (old != NULL)
        carry__ctx_unref_local(old);
}

/* Runs what follows in ctx, whose thread reference the scope takes over
 * (NULL: none); returns the context to give carry__scope_leave, which
 * restores it and releases whatever is current then. */
static inline carry_ctx *carry__scope_enter(carry_ctx *ctx)
{
    return carry__current_exchange(ctx);
}

static inline void carry__scope_leave(carry_ctx **prev)
{
    carry__current_adopt(*prev);
}

/* Rule D: the thread is back in its event loop; its context ends. */
static inline void carry__dispatch(void)
{
    if (carry__self.current)
        carry__current_switch(NULL);
    carry__ctx_drain();
}

/* Would carry__dispatch do nothing: no context to end, none to reclaim? */
static inline bool carry__dispatch_idle(void)
{
    return carry__self.current == NULL && !carry__ctx_drain_due();
}

/* Runs fn when each thread that armed the hook ends, before the thread's
 * context is released (epoll hands its queued events back this way, dgram
 * lets go of its batch).  Registering fn again changes nothing. */
void carry__current_at_exit(void (*fn)(void));

/* Rule O at exit: the spans of the requests still alive go out (a
 * server that stops with connections open, or lingering). */
void carry__current_spans_at_exit(void);

/* The thread ends: what it holds is released, the contexts it owns are no
 * one's.  Runs from the exit hook, or from a thread trampoline's frame. */
void carry__thread_finish(void);

#endif /* CARRY_CURRENT_H */
