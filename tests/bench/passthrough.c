/*
 * libbench_passthrough.so: a preload that interposes exactly the symbols
 * libcarry interposes and does nothing else.  Each wrapper calls the next
 * definition (dlsym(RTLD_NEXT), resolved once) with the same arguments, so
 * a program under it pays what any interposer of those symbols pays (an
 * extra call through the PLT and an indirect call per wrapped function, a
 * wrapper frame) and none of carry's work: the floor that
 * scripts/bench/servers and scripts/bench/micro compare carry with.
 *
 * The list is libcarry's own: interpose/real.h's CARRY__REAL_SYMBOLS (the
 * next definitions libcarry binds) expands into the wrappers here, less the
 * entries libcarry only calls (PT_SKIP_* below), plus the wrappers written
 * out below: the variadic ones, those libcarry builds on another entry of
 * the table (printf on vprintf's next definition, and so on), and syscall
 * and sigaction, which libcarry binds on its own.  It cannot drift unnoticed:
 * scripts/bench/servers and scripts/bench/micro compare this library's
 * dynamic symbols with libcarry's before measuring anything, and so does
 * the test passthrough_symbols.
 *
 * carry_api_v1 is not defined: carry.h sees no carry, and the API is its
 * no-op path, as without any preload.
 */
/* The fortified headers would define printf and friends inline, and 64-bit
 * offsets would rename fcntl into fcntl64: this file defines both. */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
/* And when optimising, glibc's bits/stdio.h defines vprintf and putchar
 * inline, before this file's definitions can say they are exported: clang
 * then leaves them hidden (gcc exports them all the same). */
#ifndef __NO_INLINE__
#define __NO_INLINE__ 1
#endif
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "../../interpose/real.h"

#define PT_EXPORT __attribute__((visibility("default")))

/* The next definition of NAME, looked up on first use.  Typed after NAME's
 * declaration here (its wrapper, or libc's header), not after real.h's
 * table, which lists only what libcarry binds through it.  Relaxed
 * atomics: two threads may both look it up and store the same address. */
#define PT_NEXT(name) \
    ({ \
        static __typeof__(&name) pt_fn_; \
        __typeof__(&name) f_ = __atomic_load_n(&pt_fn_, __ATOMIC_RELAXED); \
        if (__builtin_expect(f_ == NULL, 0)) { \
            f_ = (__typeof__(&name))pt_lookup(#name); \
            __atomic_store_n(&pt_fn_, f_, __ATOMIC_RELAXED); \
        } \
        f_; \
    })

/* A wrapper reached without a next definition (cannot happen for a symbol
 * that some loaded object defines): abort rather than guess. */
static void *pt_lookup(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL) {
        static const char msg[] = "libbench_passthrough: no next definition of ";
        ssize_t ignored __attribute__((unused)) = write(2, msg, sizeof msg - 1);
        size_t n = 0;
        while (name[n])
            n++;
        ignored = write(2, name, n);
        ignored = write(2, "\n", 1);
        abort();
    }
    return fn;
}

/* ---- The table's entries, named and forwarded ------------------------------
 *
 * The table gives parameter types without names: PT_PARAMS names them
 * a1...aN (as __typeof__(T) aK, which also declares function-pointer and
 * array types) and PT_ARGS lists the names. */
#define PT_CAT_(a, b) a##b
#define PT_CAT(a, b) PT_CAT_(a, b)
#define PT_COUNT(...) PT_COUNT_(__VA_ARGS__, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define PT_COUNT_(a1, a2, a3, a4, a5, a6, a7, a8, a9, n, ...) n
#define PT_DECL(n, ...) PT_CAT(PT_D, n)(__VA_ARGS__)
#define PT_D1(t1) __typeof__(t1) a1
#define PT_D2(t1, t2) PT_D1(t1), __typeof__(t2) a2
#define PT_D3(t1, t2, t3) PT_D2(t1, t2), __typeof__(t3) a3
#define PT_D4(t1, t2, t3, t4) PT_D3(t1, t2, t3), __typeof__(t4) a4
#define PT_D5(t1, t2, t3, t4, t5) PT_D4(t1, t2, t3, t4), __typeof__(t5) a5
#define PT_D6(t1, t2, t3, t4, t5, t6) PT_D5(t1, t2, t3, t4, t5), __typeof__(t6) a6
#define PT_D7(t1, t2, t3, t4, t5, t6, t7) PT_D6(t1, t2, t3, t4, t5, t6), __typeof__(t7) a7
#define PT_D8(t1, t2, t3, t4, t5, t6, t7, t8) \
    PT_D7(t1, t2, t3, t4, t5, t6, t7), __typeof__(t8) a8
#define PT_D9(t1, t2, t3, t4, t5, t6, t7, t8, t9) \
    PT_D8(t1, t2, t3, t4, t5, t6, t7, t8), __typeof__(t9) a9
#define PT_A1 a1
#define PT_A2 PT_A1, a2
#define PT_A3 PT_A2, a3
#define PT_A4 PT_A3, a4
#define PT_A5 PT_A4, a5
#define PT_A6 PT_A5, a6
#define PT_A7 PT_A6, a7
#define PT_A8 PT_A7, a8
#define PT_A9 PT_A8, a9
#define PT_PARAMS(params) PT_DECL(PT_COUNT params, CARRY__UNPAREN params)
#define PT_ARGS(params) PT_CAT(PT_A, PT_COUNT params)

/* Entries that are not plain wrappers: PT_SKIP_name expands to "~, 1".
 * libcarry calls event_self_cbarg and uv_fileno but does not interpose
 * them; fcntl and fcntl64 are variadic (written out below; so is syscall,
 * in case the table lists it again). */
#define PT_SKIP_event_self_cbarg ~, 1
#define PT_SKIP_uv_fileno ~, 1
#define PT_SKIP_fcntl ~, 1
#define PT_SKIP_fcntl64 ~, 1
#define PT_SKIP_syscall ~, 1
#define PT_SECOND(a, b, ...) b
#define PT_PROBE(...) PT_SECOND(__VA_ARGS__, 0, ~)
#define PT_SKIPPED(name) PT_PROBE(PT_SKIP_##name)

#define PT_WRAP_0(name, ret, params) \
    PT_EXPORT ret name(PT_PARAMS(params)) \
    { \
        return PT_NEXT(name)(PT_ARGS(params)); \
    }
#define PT_WRAP_1(name, ret, params)
#define PT_WRAP(name, ret, params, version, required) \
    PT_CAT(PT_WRAP_, PT_SKIPPED(name))(name, ret, params)

/* real.h's uv_fs_* entries name their parameters: forward them by name. */
#undef CARRY__UV_FS_REAL
#define CARRY__UV_FS_REAL(X, name, params, args) \
    PT_EXPORT int uv_fs_##name(void *loop, void *req, CARRY__UNPAREN params, carry__uv_cb *cb) \
    { \
        return PT_NEXT(uv_fs_##name)(loop, req, CARRY__UNPAREN args, cb); \
    }

/* `return f(...)` in a function returning void is valid C only when f's
 * type is void too, which it is for every such entry; GCC's pedantic
 * warning about it is off here. */
#pragma GCC diagnostic ignored "-Wpedantic"
CARRY__REAL_SYMBOLS(PT_WRAP)

/* ---- The variadic entries ----------------------------------------------------
 *
 * fcntl's third argument is an int or a pointer, passed in the same
 * register: forwarded as a pointer, as glibc does.  syscall forwards six
 * argument registers, whatever the call uses, as glibc's own does. */
PT_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return PT_NEXT(fcntl)(fd, cmd, arg);
}

PT_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return PT_NEXT(fcntl64)(fd, cmd, arg);
}

PT_EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    return PT_NEXT(syscall)(number, a, b, c, d, e, f);
}

/* ---- What libcarry interposes beyond its table -------------------------------
 *
 * libcarry defines these on top of another entry's next definition (a
 * printf-like function cannot pass its arguments on to the next printf,
 * only to a v-variant); so do these.  vfork: libcarry's is fork (a wrapper
 * cannot return twice through its own frame); this one is fork too, so
 * that both pay the same. */
#define PT_VA(last, call) \
    do { \
        va_list ap; \
        va_start(ap, last); \
        int rc_ = (call); \
        va_end(ap); \
        return rc_; \
    } while (0)

PT_EXPORT int printf(const char *fmt, ...)
{
    PT_VA(fmt, PT_NEXT(vfprintf)(stdout, fmt, ap));
}

PT_EXPORT int fprintf(FILE *fp, const char *fmt, ...)
{
    PT_VA(fmt, PT_NEXT(vfprintf)(fp, fmt, ap));
}

PT_EXPORT int vprintf(const char *fmt, va_list ap)
{
    return PT_NEXT(vfprintf)(stdout, fmt, ap);
}

PT_EXPORT int __printf_chk(int flag, const char *fmt, ...)
{
    PT_VA(fmt, PT_NEXT(__vfprintf_chk)(stdout, flag, fmt, ap));
}

PT_EXPORT int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...)
{
    PT_VA(fmt, PT_NEXT(__vfprintf_chk)(fp, flag, fmt, ap));
}

PT_EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap)
{
    return PT_NEXT(__vfprintf_chk)(stdout, flag, fmt, ap);
}

PT_EXPORT int dprintf(int fd, const char *fmt, ...)
{
    PT_VA(fmt, PT_NEXT(vdprintf)(fd, fmt, ap));
}

PT_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
    PT_VA(fmt, PT_NEXT(__vdprintf_chk)(fd, flag, fmt, ap));
}

PT_EXPORT int putc(int c, FILE *fp)
{
    return PT_NEXT(fputc)(c, fp);
}

PT_EXPORT int putchar(int c)
{
    return PT_NEXT(fputc)(c, stdout);
}

PT_EXPORT void syslog(int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PT_NEXT(vsyslog)(pri, fmt, ap);
    va_end(ap);
}

PT_EXPORT void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PT_NEXT(__vsyslog_chk)(pri, flag, fmt, ap);
    va_end(ap);
}

PT_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
    return PT_NEXT(signal)(sig, handler);
}

/* Not in the table: libcarry's crash module finds the next sigaction
 * itself (shim/sigdisp.c). */
PT_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return PT_NEXT(sigaction)(sig, act, old);
}

PT_EXPORT pid_t vfork(void)
{
    return fork();
}
