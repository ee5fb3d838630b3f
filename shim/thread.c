/*
 * Rule T: a new thread starts in its creator's current context.
 *
 * The new thread touches neither malloc nor thread-specific data: either
 * would cost it more at exit than everything else carry does (a malloc
 * arena to tear down, a destructor pass).  Start records come from a
 * pool, and the trampoline's frame releases the context when the
 * thread ends, by return, pthread_exit or cancellation (carry is built with
 * -fexceptions, so the cleanup runs during the unwind).
 */
#include "current.h"
#include "pool.h"
#include "stats.h"
#include "thread.h"

struct carry__thread_start {
    void *(*fn)(void *);
    void *arg;
    carry_ctx *ctx;
    struct carry__thread_start *next; /* the pool's link */
};

static struct carry__pool carry__starts =
    CARRY__POOL_INIT(struct carry__thread_start, next, 32, NULL, false, "thread starts");

static void carry__thread_end(char *unused)
{
    (void)unused;
    carry__thread_finish();
}

static void *carry__thread_trampoline(void *p)
{
    struct carry__thread_start start = *(struct carry__thread_start *)p;
    carry__pool_give(&carry__starts, p);
    /* This frame releases the context: no thread-exit hook is needed. */
    carry__self.exit_hook = true;
    char guard CARRY__SCOPED(carry__thread_end) = 0;
    (void)guard;
    carry__current_adopt(carry__ctx_localize(start.ctx));
    carry__count_dispatch(CARRY__B_THREADS, start.ctx);
    return start.fn(start.arg);
}

bool carry__thread_capture(void *(**fn)(void *), void **arg)
{
    carry_ctx *ctx = carry__current();
    if (ctx == NULL) {
        carry__count_dispatch(CARRY__B_THREADS, NULL);
        return false;
    }
    struct carry__thread_start *start = carry__pool_take(&carry__starts);
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
    carry__ctx_unref(start->ctx);
    carry__pool_give(&carry__starts, start);
}
