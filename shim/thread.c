/* Rule T: a new thread starts in its creator's current context. */
#include <stdlib.h>

#include "internal.h"

struct carry__thread_start {
    void *(*fn)(void *);
    void *arg;
    carry_ctx *ctx;
};

static void *carry__thread_trampoline(void *p)
{
    struct carry__thread_start start = *(struct carry__thread_start *)p;
    free(p);
    carry__adopt(start.ctx);
    return start.fn(start.arg);
}

bool carry__thread_capture(void *(**fn)(void *), void **arg)
{
    carry_ctx *ctx;
    if (!carry__on(CARRY__THREADS) || (ctx = carry__current()) == NULL)
        return false;
    int saved_errno = errno;
    struct carry__thread_start *start = malloc(sizeof *start);
    errno = saved_errno;
    if (start == NULL) /* Out of memory: the thread starts with no context. */
        return false;
    carry__ctx_ref(ctx);
    *start = (struct carry__thread_start){*fn, *arg, ctx};
    *fn = carry__thread_trampoline;
    *arg = start;
    return true;
}

void carry__thread_abandon(void *arg)
{
    struct carry__thread_start *start = arg;
    int saved_errno = errno;
    carry__ctx_unref(start->ctx);
    free(start);
    errno = saved_errno;
}
