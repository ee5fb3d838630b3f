/*
 * The per-thread current context.  The thread holds a thread reference to
 * it (current.h), so it stays alive while code runs in it even if every fd
 * and registration that owned it goes away.  A thread that ends gives it
 * back, and the contexts it owns become no one's.
 */
#include <pthread.h>

#include "current.h"
#include "span.h"

__thread struct carry__thread carry__self __attribute__((tls_model("initial-exec")));
__thread const struct carry__trace *volatile carry__otel_thread_ctx
    __attribute__((tls_model("initial-exec")));
CARRY__EXPORT extern __thread const struct carry__trace *volatile otel_thread_ctx_v1
    __attribute__((alias("carry__otel_thread_ctx"), tls_model("initial-exec")));

static pthread_key_t carry__exit_key;
static pthread_once_t carry__exit_key_once = PTHREAD_ONCE_INIT;
static bool carry__exit_key_ok;
/* The modules' thread-exit functions (epoll's, dgram's), each once. */
#define CARRY__EXIT_FNS 4
static void (*_Atomic carry__exit_fns[CARRY__EXIT_FNS])(void);

void carry__current_at_exit(void (*fn)(void))
{
    for (int i = 0; i < CARRY__EXIT_FNS; i++) {
        void (*seen)(void) = atomic_load_explicit(&carry__exit_fns[i], memory_order_relaxed);
        /* A failed exchange leaves in seen what another thread stored. */
        if (seen == NULL && atomic_compare_exchange_strong_explicit(
                                &carry__exit_fns[i], &seen, fn, memory_order_relaxed,
                                memory_order_relaxed))
            return;
        if (seen == fn)
            return;
    }
}

void carry__thread_finish(void)
{
    for (int i = 0; i < CARRY__EXIT_FNS; i++) {
        void (*fn)(void) = atomic_load_explicit(&carry__exit_fns[i], memory_order_relaxed);
        if (fn != NULL)
            fn();
    }
    carry__current_adopt(NULL);
    struct carry__thread *self = &carry__self;
    struct carry__owner *owner = self->owner;
    self->finished = true;
    self->owner = NULL;
    if (owner != NULL)
        carry__owner_end(owner);
}

static void carry__thread_exit(void *unused)
{
    (void)unused;
    carry__self.exit_hook = false;
    carry__thread_finish();
}

static void carry__exit_key_create(void)
{
    carry__exit_key_ok = pthread_key_create(&carry__exit_key, carry__thread_exit) == 0;
}

/* Armed the first time a thread needs it rather than at every thread
 * start, so threads that never carry a context pay nothing. */
void carry__current_arm_exit(void)
{
    int saved_errno = errno;
    pthread_once(&carry__exit_key_once, carry__exit_key_create);
    if (carry__exit_key_ok && pthread_setspecific(carry__exit_key, &carry__self) == 0)
        carry__self.exit_hook = true;
    errno = saved_errno;
}

/* This thread's owner, made with its first context; NULL once the thread
 * has ended, or when out of memory (its contexts then have no owner, and
 * every reference to them is atomic).  A new thread never takes over an
 * ended thread's owner: it might hold references to that owner's contexts
 * already, counted in refs, which it would then give back into biased. */
static struct carry__owner *carry__owner_of_self(void)
{
    struct carry__thread *self = &carry__self;
    if (CARRY__LIKELY(self->owner != NULL) || self->finished)
        return self->owner;
    self->owner = carry__owner_new();
    if (self->owner != NULL && !self->exit_hook)
        carry__current_arm_exit();
    return self->owner;
}

carry_ctx *carry__ctx_new_local(void)
{
    return carry__ctx_make(carry__owner_of_self(), true);
}

carry_ctx *carry__ctx_new(void)
{
    return carry__ctx_make(carry__owner_of_self(), false);
}

void carry__current_switch(carry_ctx *ctx)
{
    if (ctx != NULL)
        carry__ctx_ref_local(ctx);
    carry__current_adopt(ctx);
}

/* A request still alive at exit, under a reference of the exiting
 * thread's: a biased one for a context it owns (it may be running in
 * it), else one in refs, if any is left. */
static void carry__span_at_exit(void *obj, void *arg)
{
    (void)arg;
    carry_ctx *ctx = obj;
    if (!carry__ctx_alive(ctx) || carry__span_started(&ctx->trace) == 0)
        return;
    if (carry__ctx_owned(ctx))
        ctx->biased++;
    else if (!carry__ctx_try_ref(ctx))
        return;
    carry__ctx_span_end(ctx);
    carry__ctx_unref_local(ctx);
}

void carry__current_spans_at_exit(void)
{
    carry__ctx_each(carry__span_at_exit, NULL);
}
