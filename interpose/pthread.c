/* pthread_create: rule T (shim/thread.c). */
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
