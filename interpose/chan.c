/*
 * Hand-off channels (rule H, shim/chan.c): pipes, eventfds and socketpairs
 * this process makes (the caller tells the program's from libuv's own),
 * and glibc's eventfd_read and eventfd_write, which read and write through
 * glibc's own internal calls (not the PLT).
 */
#include "real.h"

CARRY__EXPORT int pipe(int fds[2])
{
    int rc = CARRY__REAL(pipe)(fds);
    carry__hook_pipe(rc, fds, __builtin_return_address(0));
    return rc;
}

CARRY__EXPORT int pipe2(int fds[2], int flags)
{
    int rc = CARRY__REAL(pipe2)(fds, flags);
    carry__hook_pipe(rc, fds, __builtin_return_address(0));
    return rc;
}

CARRY__EXPORT int eventfd(unsigned count, int flags)
{
    int rc = CARRY__REAL(eventfd)(count, flags);
    carry__hook_eventfd(rc, flags, __builtin_return_address(0));
    return rc;
}

CARRY__EXPORT int socketpair(int domain, int type, int protocol, int fds[2])
{
    int rc = CARRY__REAL(socketpair)(domain, type, protocol, fds);
    carry__hook_socketpair(rc, domain, type, fds, __builtin_return_address(0));
    return rc;
}

CARRY__EXPORT int eventfd_read(int fd, eventfd_t *value)
{
    carry__hook_read(fd);
    int rc = CARRY__REAL(eventfd_read)(fd, value);
    carry__hook_read_done(fd, rc == 0 ? (ssize_t)sizeof *value : -1, value, sizeof *value);
    return rc;
}

CARRY__EXPORT int eventfd_write(int fd, eventfd_t value)
{
    if (!(carry__hook_write(fd, false) & CARRY__WRITE_CHANNEL))
        return CARRY__REAL(eventfd_write)(fd, value);
    uint64_t record = carry__hook_channel_write(fd, &value, sizeof value);
    int rc = CARRY__REAL(eventfd_write)(fd, value);
    carry__hook_channel_wrote(fd, record, sizeof value, rc == 0 ? (ssize_t)sizeof value : -1);
    return rc;
}
