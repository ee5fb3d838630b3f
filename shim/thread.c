/*
 * Rule T: a new thread starts in its creator's current context.
 *
 * The new thread touches neither malloc nor thread-specific data: either
 * would cost it more at exit than everything else carry does (a malloc
 * arena to tear down, a destructor pass).  Start records come from carry's
 * own free list, and the trampoline's frame releases the context when the
 * thread ends, by return, pthread_exit or cancellation (carry is built with
 * -fexceptions, so the cleanup runs during the unwind).
 */
#include <stdlib.h>

#include "internal.h"

struct carry__thread_start {
    void *(*fn)(void *);
    void *arg;
    carry_ctx *ctx;
    struct carry__thread_start *next; /* in the free list */
};

#define CARRY__STARTS_BATCH 32

static carry__spin carry__starts_lock;
static struct carry__thread_start *carry__starts_free;

static struct carry__thread_start *carry__start_take(void)
{
    for (;;) {
        carry__spin_lock(&carry__starts_lock);
        struct carry__thread_start *start = carry__starts_free;
        if (start != NULL)
            carry__starts_free = start->next;
        carry__spin_unlock(&carry__starts_lock);
        if (start != NULL)
            return start;
        /* Allocated outside the lock, by the creating thread (see
         * context.c); never given back. */
        int saved_errno = errno;
        struct carry__thread_start *batch = calloc(CARRY__STARTS_BATCH, sizeof *batch);
        errno = saved_errno;
        if (batch == NULL)
            return NULL;
        for (int i = 0; i + 1 < CARRY__STARTS_BATCH; i++)
            batch[i].next = &batch[i + 1];
        carry__spin_lock(&carry__starts_lock);
        batch[CARRY__STARTS_BATCH - 1].next = carry__starts_free;
        carry__starts_free = batch;
        carry__spin_unlock(&carry__starts_lock);
    }
}

static void carry__start_give_back(struct carry__thread_start *start)
{
    carry__spin_lock(&carry__starts_lock);
    start->next = carry__starts_free;
    carry__starts_free = start;
    carry__spin_unlock(&carry__starts_lock);
}

static void carry__thread_end(char *unused)
{
    (void)unused;
    carry__thread_finish();
}

static void *carry__thread_trampoline(void *p)
{
    struct carry__thread_start start = *(struct carry__thread_start *)p;
    carry__start_give_back(p);
    /* This frame releases the context: no thread-exit hook is needed. */
    carry__self.exit_hook = true;
    char guard __attribute__((cleanup(carry__thread_end))) = 0;
    (void)guard;
    carry__adopt(carry__ctx_localize(start.ctx));
    carry__count_dispatch(CARRY__B_THREADS, start.ctx);
    return start.fn(start.arg);
}

bool carry__thread_capture(void *(**fn)(void *), void **arg)
{
    carry_ctx *ctx;
    if (!carry__on(CARRY__THREADS))
        return false;
    if ((ctx = carry__current()) == NULL) {
        carry__count_dispatch(CARRY__B_THREADS, NULL);
        return false;
    }
    struct carry__thread_start *start = carry__start_take();
    if (start == NULL) /* Out of memory: the thread starts with no context. */
        return false;
    carry__ctx_ref(ctx);
    carry__count_capture(CARRY__B_THREADS, ctx);
    start->fn = *fn;
    start->arg = *arg;
    start->ctx = ctx;
    *fn = carry__thread_trampoline;
    *arg = start;
    return true;
}

void carry__thread_abandon(void *arg)
{
    struct carry__thread_start *start = arg;
    int saved_errno = errno;
    carry__ctx_unref(start->ctx);
    carry__start_give_back(start);
    errno = saved_errno;
}
