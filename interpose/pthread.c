/* pthread_create and C11's thrd_create: rule T (shim/thread.c). */
#include <dlfcn.h>

#include "real.h"

CARRY__EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                 void *(*start)(void *), void *arg)
{
    bool captured = carry__hook_thread_create(&start, &arg);
    int rc = CARRY__REAL(pthread_create)(thread, attr, start, arg);
    if (rc != 0 && captured)
        carry__hook_thread_failed(arg);
    return rc;
}

/* glibc's thrd_create makes its thread through its own pthread_create,
 * unseen.  Its start function returns an int, which glibc takes from a
 * C11 thread's start as the low half of what it returns: the trampoline,
 * which returns what the function returned, keeps it. */
CARRY__EXPORT int thrd_create(thrd_t *thread, thrd_start_t start, void *arg)
{
    if (CARRY__REAL(thrd_create) == NULL)
        return thrd_error;
    void *(*fn)(void *) = (void *(*)(void *))(void (*)(void))start;
    bool captured = carry__hook_thread_create(&fn, &arg);
    int rc = CARRY__REAL(thrd_create)(thread, (thrd_start_t)(void (*)(void))fn, arg);
    if (rc != thrd_success && captured)
        carry__hook_thread_failed(arg);
    return rc;
}

/* The core's own thread (the span exporter) starts through the real
 * pthread_create, which no rule sees.  Under ThreadSanitizer, whose
 * runtime comes first in the process, through the runtime's: a thread it
 * does not know crashes the instrumented core. */
__attribute__((constructor)) static void carry__thread_real_hand_over(void)
{
    carry__thread_create_fn *real = NULL;
#if defined(__SANITIZE_THREAD__)
    real = (carry__thread_create_fn *)dlsym(RTLD_DEFAULT, "__interceptor_pthread_create");
#endif
    carry__hook_thread_real(real ? real : CARRY__REAL(pthread_create));
}
