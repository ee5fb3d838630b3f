/*
 * stdio, dprintf and syslog: CARRY_TAG (shim/tagstdio.c).  Each wrapper
 * calls its real function while its output is not tagged, and otherwise
 * hands its call to the core, which decides whether and how the line is
 * tagged.
 */
/* The fortified headers define printf and friends as inline functions,
 * which this file defines for real. */
#undef _FORTIFY_SOURCE
/* And when optimising, glibc's bits/stdio.h defines vprintf and putchar
 * inline, before this file's definitions can say they are exported: clang
 * then leaves them hidden (gcc exports them all the same). */
#ifndef __NO_INLINE__
#define __NO_INLINE__ 1
#endif
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <syslog.h>

#include "real.h"

/* flag >= 0: a fortified (_chk) function and its level. */
static int carry__vfprintf_real(FILE *fp, int flag, const char *fmt, va_list ap)
{
    return flag < 0 ? CARRY__REAL(vfprintf)(fp, fmt, ap)
                    : CARRY__REAL(__vfprintf_chk)(fp, flag, fmt, ap);
}

static int carry__vdprintf_real(int fd, int flag, const char *fmt, va_list ap)
{
    return flag < 0 ? CARRY__REAL(vdprintf)(fd, fmt, ap)
                    : CARRY__REAL(__vdprintf_chk)(fd, flag, fmt, ap);
}

static void carry__vsyslog_real(int pri, int flag, const char *fmt, va_list ap)
{
    if (flag < 0)
        CARRY__REAL(vsyslog)(pri, fmt, ap);
    else
        CARRY__REAL(__vsyslog_chk)(pri, flag, fmt, ap);
}

/* ---- printf to a stream -------------------------------------------------- */

static int carry__vprintf_file(FILE *fp, int flag, const char *fmt, va_list ap)
{
    if (CARRY__LIKELY(!carry__hook_lines(CARRY__LINES_STD)))
        return carry__vfprintf_real(fp, flag, fmt, ap);
    return carry__hook_vfprintf(fp, flag, fmt, ap, carry__vfprintf_real);
}

#define CARRY__VA(call) \
    do { \
        va_list ap; \
        va_start(ap, fmt); \
        int rc_ = (call); \
        va_end(ap); \
        return rc_; \
    } while (0)

CARRY__EXPORT int printf(const char *fmt, ...)
{
    CARRY__VA(carry__vprintf_file(stdout, -1, fmt, ap));
}

CARRY__EXPORT int fprintf(FILE *fp, const char *fmt, ...)
{
    CARRY__VA(carry__vprintf_file(fp, -1, fmt, ap));
}

CARRY__EXPORT int vprintf(const char *fmt, va_list ap)
{
    return carry__vprintf_file(stdout, -1, fmt, ap);
}

CARRY__EXPORT int vfprintf(FILE *fp, const char *fmt, va_list ap)
{
    return carry__vprintf_file(fp, -1, fmt, ap);
}

CARRY__EXPORT int __printf_chk(int flag, const char *fmt, ...)
{
    CARRY__VA(carry__vprintf_file(stdout, flag, fmt, ap));
}

CARRY__EXPORT int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...)
{
    CARRY__VA(carry__vprintf_file(fp, flag, fmt, ap));
}

CARRY__EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap)
{
    return carry__vprintf_file(stdout, flag, fmt, ap);
}

CARRY__EXPORT int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap)
{
    return carry__vprintf_file(fp, flag, fmt, ap);
}

/* ---- dprintf: straight to an fd ------------------------------------------ */

static int carry__vprintf_fd(int fd, int flag, const char *fmt, va_list ap)
{
    if (CARRY__LIKELY(!carry__hook_lines(CARRY__LINES_STD)))
        return carry__vdprintf_real(fd, flag, fmt, ap);
    return carry__hook_vdprintf(fd, flag, fmt, ap, carry__vdprintf_real, CARRY__REAL(writev));
}

CARRY__EXPORT int dprintf(int fd, const char *fmt, ...)
{
    CARRY__VA(carry__vprintf_fd(fd, -1, fmt, ap));
}

CARRY__EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
    return carry__vprintf_fd(fd, -1, fmt, ap);
}

CARRY__EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
    CARRY__VA(carry__vprintf_fd(fd, flag, fmt, ap));
}

CARRY__EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
    return carry__vprintf_fd(fd, flag, fmt, ap);
}

/* ---- Plain bytes to a stream --------------------------------------------- */

/* fputs, puts, fwrite and fputc with their arguments, for the core, and
 * the result of the real one. */
struct carry__put_call {
    enum { CARRY__FPUTS, CARRY__PUTS, CARRY__FWRITE, CARRY__FPUTC } fn;
    FILE *fp;
    const void *p;
    size_t size, n; /* fwrite */
    int c;          /* fputc */
    int rc;         /* fputs, puts, fputc */
    size_t count;   /* fwrite */
};

static void carry__put_real(void *p)
{
    struct carry__put_call *c = p;
    switch (c->fn) {
    case CARRY__FPUTS:
        c->rc = CARRY__REAL(fputs)(c->p, c->fp);
        break;
    case CARRY__PUTS:
        c->rc = CARRY__REAL(puts)(c->p);
        break;
    case CARRY__FWRITE:
        c->count = CARRY__REAL(fwrite)(c->p, c->size, c->n, c->fp);
        break;
    case CARRY__FPUTC:
        c->rc = CARRY__REAL(fputc)(c->c, c->fp);
        break;
    }
}

CARRY__EXPORT int fputs(const char *s, FILE *fp)
{
    if (CARRY__LIKELY(!carry__hook_lines(CARRY__LINES_STD)))
        return CARRY__REAL(fputs)(s, fp);
    struct carry__put_call c = {.fn = CARRY__FPUTS, .fp = fp, .p = s};
    struct iovec v[] = {{(void *)s, strlen(s)}};
    size_t done;
    if (!carry__hook_put(fp, v, 1, carry__put_real, &c, &done))
        return c.rc;
    return done == v[0].iov_len ? 1 : EOF;
}

CARRY__EXPORT int puts(const char *s)
{
    if (CARRY__LIKELY(!carry__hook_lines(CARRY__LINES_STD)))
        return CARRY__REAL(puts)(s);
    struct carry__put_call c = {.fn = CARRY__PUTS, .fp = stdout, .p = s};
    struct iovec v[] = {{(void *)s, strlen(s)}, {"\n", 1}};
    size_t done;
    if (!carry__hook_put(stdout, v, 2, carry__put_real, &c, &done))
        return c.rc;
    /* glibc's result: the bytes written, at most INT_MAX. */
    if (done < v[0].iov_len + 1)
        return EOF;
    return done > INT_MAX ? INT_MAX : (int)done;
}

CARRY__EXPORT size_t fwrite(const void *p, size_t size, size_t n, FILE *fp)
{
    size_t bytes;
    if (CARRY__LIKELY(!carry__hook_lines(CARRY__LINES_STD)) ||
        __builtin_mul_overflow(size, n, &bytes) || bytes == 0)
        return CARRY__REAL(fwrite)(p, size, n, fp);
    struct carry__put_call c = {.fn = CARRY__FWRITE, .fp = fp, .p = p, .size = size, .n = n};
    struct iovec v[] = {{(void *)p, bytes}};
    size_t done;
    if (!carry__hook_put(fp, v, 1, carry__put_real, &c, &done))
        return c.count;
    return done / size;
}

/* fputc, putc and putchar are the same function. */
static int carry__putc(int c, FILE *fp)
{
    if (CARRY__LIKELY(!carry__hook_lines(CARRY__LINES_STD)))
        return CARRY__REAL(fputc)(c, fp);
    struct carry__put_call call = {.fn = CARRY__FPUTC, .fp = fp, .c = c};
    unsigned char ch = (unsigned char)c;
    struct iovec v[] = {{&ch, 1}};
    size_t done;
    if (!carry__hook_put(fp, v, 1, carry__put_real, &call, &done))
        return call.rc;
    return done == 1 ? ch : EOF;
}

CARRY__EXPORT int fputc(int c, FILE *fp)
{
    return carry__putc(c, fp);
}

CARRY__EXPORT int putc(int c, FILE *fp)
{
    return carry__putc(c, fp);
}

CARRY__EXPORT int putchar(int c)
{
    return carry__putc(c, stdout);
}

/* ---- perror -------------------------------------------------------------- */

CARRY__EXPORT void perror(const char *s)
{
    if (CARRY__LIKELY(!carry__hook_lines(CARRY__LINES_STD)))
        CARRY__REAL(perror)(s);
    else
        carry__hook_perror(s, CARRY__REAL(perror));
}

/* ---- syslog -------------------------------------------------------------- */

static void carry__vsyslog(int pri, int flag, const char *fmt, va_list ap)
{
    if (CARRY__LIKELY(!carry__hook_lines(CARRY__LINES_SYSLOG)))
        carry__vsyslog_real(pri, flag, fmt, ap);
    else
        carry__hook_vsyslog(pri, flag, fmt, ap, carry__vsyslog_real);
}

CARRY__EXPORT void syslog(int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    carry__vsyslog(pri, -1, fmt, ap);
    va_end(ap);
}

CARRY__EXPORT void vsyslog(int pri, const char *fmt, va_list ap)
{
    carry__vsyslog(pri, -1, fmt, ap);
}

CARRY__EXPORT void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    carry__vsyslog(pri, flag, fmt, ap);
    va_end(ap);
}

CARRY__EXPORT void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
    carry__vsyslog(pri, flag, fmt, ap);
}
