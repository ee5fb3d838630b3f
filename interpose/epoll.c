/* The epoll family: rules D and E (shim/epoll.c). */
#include <errno.h>

#include "real.h"

CARRY__EXPORT int epoll_create(int size)
{
    int fd = CARRY__REAL(epoll_create)(size);
    if (fd >= 0)
        carry__hook_epoll_create(fd);
    return fd;
}

CARRY__EXPORT int epoll_create1(int flags)
{
    int fd = CARRY__REAL(epoll_create1)(flags);
    if (fd >= 0)
        carry__hook_epoll_create(fd);
    return fd;
}

CARRY__REAL_THROUGH(int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event *event),
                    (epfd, op, fd, event), carry__hook_epoll_ctl)

/* epoll_pwait's and epoll_pwait2's arguments beyond epoll_wait's, for
 * their real calls: the core waits through an epoll_wait-shaped function
 * (plain epoll_wait's real one needs no trampoline).  Per thread, and put
 * back after each wait, so that a wait made by a signal handler that
 * interrupts another leaves it its own. */
struct carry__pwait_args {
    const struct timespec *ts;
    const sigset_t *sigmask;
};

static __thread struct carry__pwait_args carry__pwait_args
    __attribute__((tls_model("initial-exec")));

static int carry__pwait_real(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    return CARRY__REAL(epoll_pwait)(epfd, events, maxevents, timeout,
                                    carry__pwait_args.sigmask);
}

static int carry__pwait2_real(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    (void)timeout;
    return CARRY__REAL(epoll_pwait2)(epfd, events, maxevents, carry__pwait_args.ts,
                                     carry__pwait_args.sigmask);
}

CARRY__REAL_THROUGH(int, epoll_wait,
                    (int epfd, struct epoll_event *events, int maxevents, int timeout),
                    (epfd, events, maxevents, timeout), carry__hook_epoll_wait)

/* A wait through one of the trampolines above, with args. */
static int carry__pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                        carry__wait_fn *real, struct carry__pwait_args args)
{
    struct carry__pwait_args outer = carry__pwait_args;
    carry__pwait_args = args;
    int rc = carry__hook_epoll_wait(epfd, events, maxevents, timeout, real);
    carry__pwait_args = outer;
    return rc;
}

CARRY__EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                              const sigset_t *sigmask)
{
    return carry__pwait(epfd, events, maxevents, timeout, carry__pwait_real,
                        (struct carry__pwait_args){NULL, sigmask});
}

CARRY__EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
                               const struct timespec *timeout, const sigset_t *sigmask)
{
    if (CARRY__REAL(epoll_pwait2) == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return carry__pwait(epfd, events, maxevents, timeout == NULL ? -1 : 0, carry__pwait2_real,
                        (struct carry__pwait_args){timeout, sigmask});
}
