/* pthread_create: rule T.  The policy is in shim/thread.c. */
#include "real.h"

CARRY__EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                 void *(*start)(void *), void *arg)
{
    bool captured = carry__thread_capture(&start, &arg);
    int rc = CARRY__REAL(pthread_create)(thread, attr, start, arg);
    if (rc != 0 && captured)
        carry__thread_abandon(arg);
    return rc;
}
