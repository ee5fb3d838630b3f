/* Rules D and E: epoll (epoll.c). */
#ifndef CARRY_EPOLL_H
#define CARRY_EPOLL_H

#include <sys/epoll.h>

#include "calls.h"
#include "common.h"
#include "fdmap.h"
#include "self.h"

/* A wait inside a library's loop, whose callbacks set the contexts (rule
 * L): the tokens are translated, nothing else. */
int carry__ep_wait_in_loop(int epfd, struct epoll_event *events, int maxevents, int timeout,
                           carry__wait_fn *real);

/* Any other wait: rules D and E. */
int carry__ep_wait_own(int epfd, struct epoll_event *events, int maxevents, int timeout,
                       carry__wait_fn *real);

/* Rules D and E for one epoll_wait-family call.  Inline, and the two
 * kinds of wait apart, so that each saves only the registers it needs. */
static inline int carry__ep_wait(int epfd, struct epoll_event *events, int maxevents,
                                 int timeout, carry__wait_fn *real)
{
    struct carry__thread *self = &carry__self;
    if (self->in_loop > 0 && self->queue.count == 0)
        return carry__ep_wait_in_loop(epfd, events, maxevents, timeout, real);
    return carry__ep_wait_own(epfd, events, maxevents, timeout, real);
}

/* Rule E for epoll_ctl: binds the registration to the current context and
 * swaps the caller's data for carry's token. */
int carry__ep_ctl(int epfd, int op, int fd, struct epoll_event *event, carry__ctl_fn *real);

/* epfd is a new epoll fd: any state left under its number is stale. */
void carry__ep_created(int epfd);

/* What epoll knows of every fd: its epoll state when it is an epoll fd,
 * and how many registrations it has (so that closing an fd that has none
 * walks nothing). */
struct carry__ep;
struct carry__ep_fd {
    _Atomic(struct carry__ep *) ep;
    _Atomic uint32_t regs;
};

extern struct carry__fdmap carry__ep_fds;

/* Has fd neither a registration nor epoll state of its own?  Inline: it
 * is so for most fds a program closes. */
static inline bool carry__ep_fd_blank(int fd)
{
    struct carry__ep_fd *e = carry__fdmap_peek(&carry__ep_fds, fd, sizeof *e);
    return e == NULL || (atomic_load_explicit(&e->regs, memory_order_acquire) == 0 &&
                         atomic_load_explicit(&e->ep, memory_order_relaxed) == NULL);
}

/* fd is being closed: its registrations end, and its epoll state if it is
 * an epoll fd. */
void carry__ep_closed(int fd);

/* Has epoll ever kept anything for an fd of fd's map page?  False: no
 * fd of that page has a registration or is an epoll fd. */
bool carry__ep_knows(int fd);

/* CARRY_EPOLL=batch: I/O on fd while carry__io_batch is set switches to
 * the context of fd's event when that event is in the thread's batch
 * (every time on an accepted connection, the first time on other fds). */
void carry__ep_batch_io(int fd, bool write);

/* The events queued in the parent were handed to the parent's threads. */
void carry__ep_atfork_child(void);

#endif /* CARRY_EPOLL_H */
