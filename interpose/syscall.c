/*
 * syscall(2): libuv closes every fd with syscall(SYS_close, fd) (to avoid
 * close's cancellation point), so the end of a connection's fd would go
 * unseen, and its context would stay owned by a number the kernel hands
 * out again.  The core looks at the fd-closing numbers; every call passes
 * straight through.  syscall is variadic: like glibc's own, this
 * forwards six argument registers whatever the call uses.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "real.h"

/*
 * The real syscall is bound on its own, not through real.c's table:
 * allocators call syscall from inside their own locks (jemalloc, Debian's
 * redis-server's malloc, reads /proc/sys/vm/overcommit_memory with
 * syscall(SYS_open/SYS_read) in its first malloc).  Binding the table
 * there would dlsym symbols the program lacks, and a failed dlsym
 * allocates its error message: malloc inside malloc's initialisation, a
 * self-deadlock.  One dlsym of a symbol that libc defines does not
 * allocate.
 */
static long (*_Atomic carry__real_syscall)(long, ...);

static long (*carry__syscall_fn(void))(long, ...)
{
    long (*fn)(long, ...) = atomic_load_explicit(&carry__real_syscall, memory_order_relaxed);
    if (CARRY__LIKELY(fn != NULL))
        return fn;
    int saved_errno = errno;
    fn = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    errno = saved_errno;
    if (fn == NULL) {
        carry__warn("cannot find the real syscall (%s); giving up", dlerror());
        abort();
    }
    atomic_store_explicit(&carry__real_syscall, fn, memory_order_relaxed);
    return fn;
}

CARRY__EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    carry__hook_syscall(number, a, b, c);
    return carry__syscall_fn()(number, a, b, c, d, e, f);
}
