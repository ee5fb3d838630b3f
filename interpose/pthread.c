/* pthread_create: rule T (shim/thread.c). */
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
