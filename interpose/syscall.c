/*
 * syscall(2): libuv closes every fd with syscall(SYS_close, fd) (to avoid
 * close's cancellation point), so the end of a connection's fd would go
 * unseen, and its context would stay owned by a number the kernel hands
 * out again.  The fd-closing calls are told to carry; every other number
 * passes straight through.  syscall is variadic: like glibc's own, this
 * forwards six argument registers whatever the call uses.
 */
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

CARRY__EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_close)
        carry__fd_close((int)a);
    else if (number == SYS_close_range && !((unsigned)c & CLOSE_RANGE_CLOEXEC))
        carry__fd_close_range((unsigned)a, (unsigned)b);
    return CARRY__REAL(syscall)(number, a, b, c, d, e, f);
}
