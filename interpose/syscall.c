/*
 * syscall(2): libuv closes every fd with syscall(SYS_close, fd) (to avoid
 * close's cancellation point), so the end of a connection's fd would go
 * unseen, and its context would stay owned by a number the kernel hands
 * out again; libuv 1.44 receives and sends its UDP batches with
 * syscall(SYS_recvmmsg) and syscall(SYS_sendmmsg), where rule R's
 * datagrams begin and are answered.  The core looks at the fd-closing
 * numbers and makes the recvmmsg itself; every other call passes straight
 * through.  syscall is variadic: like glibc's own, this
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

struct carry__syscall_call {
    long number, a, b, c, d, e, f;
};

static ssize_t carry__syscall_real(void *p)
{
    struct carry__syscall_call *s = p;
    return carry__syscall_fn()(s->number, s->a, s->b, s->c, s->d, s->e, s->f);
}

CARRY__EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    struct carry__syscall_call s = {.number = number};
    s.a = va_arg(ap, long), s.b = va_arg(ap, long), s.c = va_arg(ap, long);
    s.d = va_arg(ap, long), s.e = va_arg(ap, long), s.f = va_arg(ap, long);
    va_end(ap);
    if (carry__hook_datagrams()) {
        if (number == SYS_recvmmsg)
            return carry__hook_recvmmsg((int)s.a, (struct mmsghdr *)s.b, (unsigned)s.c, (int)s.d,
                                        carry__syscall_real, &s);
        if (number == SYS_sendmmsg)
            carry__hook_send_msg((int)s.a, s.c > 0 ? &((struct mmsghdr *)s.b)->msg_hdr : NULL);
    }
    carry__hook_syscall(number, s.a, s.b, s.c);
    return carry__syscall_real(&s);
}
