/* Rules D and E: epoll (epoll.c). */
#ifndef CARRY_EPOLL_H
#define CARRY_EPOLL_H

#include <sys/epoll.h>

#include "calls.h"
#include "common.h"
#include "fdmap.h"
#include "self.h"
#include "watch.h"

/* A wait inside a library's loop, whose callbacks set the contexts (rule
 * L): the tokens are translated, nothing else. */
int carry__ep_wait_in_loop(int epfd, struct epoll_event *events, int maxevents, int timeout,
                           carry__wait_fn *real);

/* Any other wait: rules D and E.  depth is where the wait's entry point
 * (hooks.c) found the stack, the same for every wait through it whichever
 * way it takes after, so that a wait can tell that it is nested in a
 * handler (epoll.c). */
int carry__ep_wait_own(int epfd, struct epoll_event *events, int maxevents, int timeout,
                       carry__wait_fn *real, uintptr_t depth);

/*
 * A plain wait: on the epoll fd of the thread's last wait, with no batch,
 * nested handler, datagram batch or queued events of the thread's to see
 * to, outside any library loop or inside the same one as that wait.  The
 * wait that finds the thread so remembers the epoll fd and its state
 * (plain_* in self.h), so that the next one skips the look-ups and checks
 * of carry__ep_wait_own or carry__ep_wait_in_loop; what would make a wait
 * other than plain forgets it (a library loop entered or left, a datagram
 * batch, a nested handler, events queued: carry__ep_wait_unplain), and
 * the release of any epoll fd's state moves carry__ep_epoch on, which
 * every thread's remembered state is checked against.
 */
extern _Atomic uint32_t carry__ep_epoch;

/* Unsigned, so that no epfd overflows; a negative one may take the plain
 * way, where the kernel refuses it as on the others. */
static inline bool carry__ep_wait_is_plain(int epfd)
{
    struct carry__thread *self = &carry__self;
    return self->plain_epfd == (unsigned)epfd + 1 &&
           self->plain_epoch == atomic_load_explicit(&carry__ep_epoch, memory_order_relaxed) &&
           carry__io_batch == 0;
}

int carry__ep_wait_plain(int epfd, struct epoll_event *events, int maxevents, int timeout,
                         carry__wait_fn *real, uintptr_t depth);

/* The thread's next wait takes the whole way (a library loop begins or
 * ends, a datagram batch begins). */
static inline void carry__ep_wait_unplain(void)
{
    carry__self.plain_epfd = 0;
}

/* Rules D and E for one epoll_wait-family call.  Inline, and the two
 * kinds of wait apart, so that each saves only the registers it needs. */
static inline int carry__ep_wait(int epfd, struct epoll_event *events, int maxevents,
                                 int timeout, carry__wait_fn *real, uintptr_t depth)
{
    struct carry__thread *self = &carry__self;
    if (self->in_loop > 0 && self->queue.count == 0)
        return carry__ep_wait_in_loop(epfd, events, maxevents, timeout, real);
    return carry__ep_wait_own(epfd, events, maxevents, timeout, real, depth);
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
