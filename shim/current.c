/*
 * The per-thread current context.  The thread holds a thread reference to
 * it (internal.h: free of atomics in a context the thread owns), so
 * it stays alive while code runs in it even if every fd and registration
 * that owned it goes away.  A thread that ends gives it back (and any
 * epoll events it still holds, see epoll.c).
 */
#include <pthread.h>

#include "internal.h"

__thread struct carry__thread carry__self __attribute__((tls_model("initial-exec")));

static pthread_key_t carry__exit_key;
static pthread_once_t carry__exit_key_once = PTHREAD_ONCE_INIT;
static bool carry__exit_key_ok;

void carry__thread_finish(void)
{
    carry__ep_thread_exit();
    carry__adopt(NULL);
    carry__ctx_owner_end();
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
void carry__arm_exit_hook(void)
{
    int saved_errno = errno;
    pthread_once(&carry__exit_key_once, carry__exit_key_create);
    if (carry__exit_key_ok && pthread_setspecific(carry__exit_key, &carry__self) == 0)
        carry__self.exit_hook = true;
    errno = saved_errno;
}

void carry__adopt(carry_ctx *ctx)
{
    struct carry__thread *self = &carry__self;
    carry_ctx *old = self->current;
    self->current = ctx;
    if (ctx != NULL && CARRY__UNLIKELY(!self->exit_hook))
        carry__arm_exit_hook();
    if (old != NULL)
        carry__ctx_unref_local(old);
}

void carry__switch(carry_ctx *ctx)
{
    if (ctx != NULL)
        carry__ctx_ref_local(ctx);
    carry__adopt(ctx);
}
