/*
 * The shapes in which the core is handed a real function to call: the
 * wrapper binds the program's other arguments in a call record of its own
 * where the real functions differ (epoll_wait and epoll_pwait2, accept and
 * accept4), so one entry point serves the family.  hooks.h and the modules
 * that make these calls share them.
 */
#ifndef CARRY_CALLS_H
#define CARRY_CALLS_H

#include <stdarg.h>
#include <stdio.h>
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

/* stdio, dprintf and syslog: the plain or the fortified (_chk) function by
 * flag, the fortify level, or -1 for the plain one. */
typedef int carry__vfprintf_fn(FILE *fp, int flag, const char *fmt, va_list ap);
typedef int carry__vdprintf_fn(int fd, int flag, const char *fmt, va_list ap);
typedef void carry__vsyslog_fn(int pri, int flag, const char *fmt, va_list ap);

/* The real fputs, puts, fwrite or fputc, with its arguments bound in call,
 * where it leaves its result. */
typedef void carry__put_fn(void *call);

#endif /* CARRY_CALLS_H */
