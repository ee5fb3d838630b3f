/*
 * The shapes in which the core is handed a real function to call: the
 * wrapper binds the program's other arguments in a call record of its own
 * where the real functions differ (epoll_wait and epoll_pwait2, accept and
 * accept4), so one entry point serves the family.  hooks.h and the modules
 * that make these calls share them.
 */
#ifndef CARRY_CALLS_H
#define CARRY_CALLS_H

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The real accept or accept4, its other arguments bound in call. */
typedef int carry__accept_fn(void *call, struct sockaddr *addr, socklen_t *len);

/* The real epoll_ctl. */
typedef int carry__ctl_fn(int epfd, int op, int fd, struct epoll_event *event);

/* The real epoll_wait, epoll_pwait or epoll_pwait2, with the caller's
 * timeout and signal mask bound in call. */
typedef int carry__wait_fn(void *call, struct epoll_event *events, int maxevents);

/* The real writev, or the program's own call on the same arguments (write
 * or writev). */
typedef ssize_t carry__writev_fn(int fd, const struct iovec *iov, int cnt);

#endif /* CARRY_CALLS_H */
