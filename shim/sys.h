/*
 * Raw system calls for the core's own I/O (warnings, the stats report,
 * crash reports, ELF files).  The core must never call a function libcarry
 * exports: the exported syscall, close or write would run carry's own
 * policy (fd ownership, tagging, epoll) from inside a signal handler or a
 * warning.  These go straight to the kernel, take no lock and allocate
 * nothing, so they are async-signal-safe.  They return what the kernel
 * returns: a negative errno value on failure, errno itself is left alone.
 */
#ifndef CARRY_SYS_H
#define CARRY_SYS_H

#include <sys/syscall.h>

#include "common.h"

#if defined(__x86_64__)
static inline long carry__sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long rc;
    __asm__ volatile("syscall"
                     : "=a"(rc)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return rc;
}
#elif defined(__aarch64__)
static inline long carry__sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
#else
#error "carry: shim/sys.h needs the system call instruction of this architecture"
#endif

/* carry__sys(n, args...): n and up to six arguments (none for gettid). */
#define carry__sys(...) carry__sys_n(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)
#define carry__sys_n(n, a, b, c, d, e, f, ...) \
    carry__sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* The size of a signal set as the kernel takes it (rt_sigprocmask and the
 * like), shorter than libc's sigset_t. */
#define CARRY__KERNEL_SIGSET (_NSIG / 8)

#endif /* CARRY_SYS_H */
