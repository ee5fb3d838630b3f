/*
 * pthread_cond_*: rule H's condition variables (shim/condvar.c).
 *
 * glibc versions these: GLIBC_2.3.2 is the condition variable programs
 * link against today, GLIBC_2.2.5 the one of x86-64's first glibc, a
 * pointer to the other kind in the same memory.  libcarry's wrappers
 * carry version GLIBC_2.3.2 (cond.map), so a program built against the old
 * ones keeps calling libc's directly: a wrapper without a version would
 * take its calls too, and hand an old condition variable to the new
 * functions.  The next definitions are bound without a version (real.h),
 * which finds libc's default, GLIBC_2.3.2: dlvsym would skip an
 * interposer after libcarry that defines them without one (TSan's
 * runtime does) and go straight to libc.  pthread_cond_clockwait has
 * one function under two versions (GLIBC_2.30 and 2.34): its wrapper has
 * none, and takes both.
 */
#include "real.h"

/* Uninstrumented, like the hooks they call first (see hooks.c): jemalloc
 * starts its background threads with the real pthread_create, unknown to
 * TSan's runtime, and they wait on condition variables. */
#define CARRY__COND_EXPORT CARRY__EXPORT __attribute__((no_sanitize("thread")))

CARRY__COND_EXPORT int pthread_cond_signal(pthread_cond_t *cond)
{
    carry__hook_cond_signal(cond, false);
    return CARRY__REAL(pthread_cond_signal)(cond);
}

CARRY__COND_EXPORT int pthread_cond_broadcast(pthread_cond_t *cond)
{
    carry__hook_cond_signal(cond, true);
    return CARRY__REAL(pthread_cond_broadcast)(cond);
}

/* The real wait call, between the hooks that begin and end a wait. */
#define CARRY__COND_WAIT(cond, call) \
    ({ \
        uint64_t carry__seen_ = carry__hook_cond_wait(cond); \
        int carry__rc_ = (call); \
        carry__hook_cond_woken(cond, carry__seen_, carry__rc_); \
        carry__rc_; \
    })

CARRY__COND_EXPORT int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
{
    return CARRY__COND_WAIT(cond, CARRY__REAL(pthread_cond_wait)(cond, mutex));
}

CARRY__COND_EXPORT int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex,
                                         const struct timespec *abstime)
{
    return CARRY__COND_WAIT(cond, CARRY__REAL(pthread_cond_timedwait)(cond, mutex, abstime));
}

/* Optional (glibc 2.30 and later): without it, ENOSYS, as real.h says. */
CARRY__COND_EXPORT int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex,
                                         clockid_t clock, const struct timespec *abstime)
{
    int (*real)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *) =
        CARRY__REAL(pthread_cond_clockwait);
    if (real == NULL)
        return ENOSYS;
    return CARRY__COND_WAIT(cond, real(cond, mutex, clock, abstime));
}
