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

CARRY__EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    return carry__hook_epoll_ctl(epfd, op, fd, event, CARRY__REAL(epoll_ctl));
}

/* One of the three waits with its own timeout and mask, for the core:
 * one function each, so that a wait costs no dispatch on its kind. */
struct carry__wait_call {
    int epfd;
    int timeout;                  /* epoll_wait, epoll_pwait */
    const struct timespec *ts;    /* epoll_pwait2 */
    const sigset_t *sigmask;      /* epoll_pwait, epoll_pwait2 */
};

static int carry__wait_real(void *p, struct epoll_event *events, int maxevents)
{
    struct carry__wait_call *c = p;
    return CARRY__REAL(epoll_wait)(c->epfd, events, maxevents, c->timeout);
}

static int carry__pwait_real(void *p, struct epoll_event *events, int maxevents)
{
    struct carry__wait_call *c = p;
    return CARRY__REAL(epoll_pwait)(c->epfd, events, maxevents, c->timeout, c->sigmask);
}

static int carry__pwait2_real(void *p, struct epoll_event *events, int maxevents)
{
    struct carry__wait_call *c = p;
    return CARRY__REAL(epoll_pwait2)(c->epfd, events, maxevents, c->ts, c->sigmask);
}

CARRY__EXPORT int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    struct carry__wait_call c = {epfd, timeout, NULL, NULL};
    return carry__hook_epoll_wait(epfd, events, maxevents, carry__wait_real, &c, timeout < 0);
}

CARRY__EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
                              const sigset_t *sigmask)
{
    struct carry__wait_call c = {epfd, timeout, NULL, sigmask};
    return carry__hook_epoll_wait(epfd, events, maxevents, carry__pwait_real, &c, timeout < 0);
}

CARRY__EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
                               const struct timespec *timeout, const sigset_t *sigmask)
{
    if (CARRY__REAL(epoll_pwait2) == NULL) {
        errno = ENOSYS;
        return -1;
    }
    struct carry__wait_call c = {epfd, 0, timeout, sigmask};
    return carry__hook_epoll_wait(epfd, events, maxevents, carry__pwait2_real, &c,
                                  timeout == NULL);
}
