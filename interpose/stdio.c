/*
 * stdio, dprintf and syslog: CARRY_TAG (the policy is in shim/tag.c).
 *
 * glibc's streams flush through its internal write, which no wrapper sees,
 * so a stream's lines are tagged where the program's bytes enter the
 * stream, under the stream's lock: a tag and its line stay together
 * whatever the buffering and however many threads write.  Every printf-like
 * function goes through carry__vprintf_file (streams), carry__vprintf_fd
 * (dprintf) or carry__vsyslog (syslog); the writers of plain bytes (fputs,
 * fwrite, puts, fputc) through CARRY__STDIO_PUT.
 *
 * Without tagging, each wrapper costs one predictable branch before the
 * real function.  With tagging but no current context, the real function
 * runs (under the stream's lock) and carry notes whether the line ended,
 * so that a line begun with no context is not tagged when a context
 * finishes it; a printf format that does not end in a newline is formatted
 * by carry to learn that.
 */
/* The fortified headers define printf and friends as inline functions,
 * which this file defines for real. */
#undef _FORTIFY_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <syslog.h>

#include "real.h"
/* Until tagging moves behind hooks.h. */
#include "../shim/tag.h"

static void carry__unlock(FILE **fp)
{
    funlockfile(*fp);
}

/* flag >= 0: a fortified (_chk) entry point and its level. */
static int carry__real_vfprintf(FILE *fp, int flag, const char *fmt, va_list ap)
{
    return flag < 0 ? CARRY__REAL(vfprintf)(fp, fmt, ap)
                    : CARRY__REAL(__vfprintf_chk)(fp, flag, fmt, ap);
}

static int carry__real_vdprintf(int fd, int flag, const char *fmt, va_list ap)
{
    return flag < 0 ? CARRY__REAL(vdprintf)(fd, fmt, ap)
                    : CARRY__REAL(__vdprintf_chk)(fd, flag, fmt, ap);
}

static void carry__real_vsyslog(int pri, int flag, const char *fmt, va_list ap)
{
    if (flag < 0)
        CARRY__REAL(vsyslog)(pri, fmt, ap);
    else
        CARRY__REAL(__vsyslog_chk)(pri, flag, fmt, ap);
}

/* Does every output of fmt end a line?  A format's newline is always
 * literal text (no conversion ends with one). */
static bool carry__ends_line(const char *fmt)
{
    size_t n = strlen(fmt);
    return n > 0 && fmt[n - 1] == '\n';
}

/* ---- printf to a stream -------------------------------------------------- */

static int carry__vprintf_file(FILE *fp, int flag, const char *fmt, va_list ap)
{
    int fd = carry__tag_file(fp);
    if (CARRY__LIKELY(fd < 0) || fmt == NULL)
        return carry__real_vfprintf(fp, flag, fmt, ap);
    uint64_t id = carry__tag_id();
    if (id == 0 && carry__ends_line(fmt)) {
        FILE *locked __attribute__((cleanup(carry__unlock))) = fp;
        flockfile(fp);
        int rc = carry__real_vfprintf(fp, flag, fmt, ap);
        carry__tag_mark(fd, false);
        return rc;
    }
    int saved_errno = errno;
    struct carry__tag_buf b __attribute__((cleanup(carry__tag_buf_free)));
    carry__tag_buf_init(&b);
    int n = carry__tag_buf_vformat(&b, flag, fmt, ap);
    if (n < 0) {
        /* No memory for an output larger than the stack buffer, or a
         * format libc rejects too: libc's own result, untagged. */
        errno = saved_errno;
        return carry__real_vfprintf(fp, flag, fmt, ap);
    }
    if (carry__tag_put(fp, fd, &b, id) < (size_t)n)
        return -1;
    errno = saved_errno;
    return n;
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

static ssize_t carry__writev_real(int fd, const struct iovec *iov, int cnt)
{
    return CARRY__REAL(writev)(fd, iov, cnt);
}

static int carry__vprintf_fd(int fd, int flag, const char *fmt, va_list ap)
{
    carry__ensure_init();
    if (CARRY__LIKELY(!carry__tag_fd(fd)) || fmt == NULL)
        return carry__real_vdprintf(fd, flag, fmt, ap);
    uint64_t id = carry__tag_id();
    if (id == 0 && carry__ends_line(fmt)) {
        int rc = carry__real_vdprintf(fd, flag, fmt, ap);
        carry__tag_mark(fd, false);
        return rc;
    }
    int saved_errno = errno;
    struct carry__tag_buf b __attribute__((cleanup(carry__tag_buf_free)));
    carry__tag_buf_init(&b);
    int n = carry__tag_buf_vformat(&b, flag, fmt, ap);
    if (n <= 0) {
        /* Nothing to write (dprintf then makes no system call), or see
         * carry__vprintf_file. */
        errno = saved_errno;
        return n == 0 ? 0 : carry__real_vdprintf(fd, flag, fmt, ap);
    }
    /* Like dprintf, write everything or fail. */
    struct iovec v = {b.data + CARRY__TAG_LEN, (size_t)n};
    if (carry__tag_writev(fd, &v, 1, id, carry__writev_real, carry__writev_real, true) != n)
        return -1;
    errno = saved_errno;
    return n;
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

/*
 * The body of a writer of plain bytes, once carry__tag_file said that fp
 * (of fd) is tagged: v is an array of the program's buffers; call is the
 * real function, used when no context is current (under the stream's
 * lock, then carry notes how the line ended); result is the return value
 * when the bytes went out tagged, from done, the program's bytes written.
 */
#define CARRY__STDIO_PUT(fp, fd, v, call, result) \
    do { \
        int cnt_ = (int)(sizeof(v) / sizeof(v)[0]); \
        size_t total_ = 0; \
        for (int i_ = 0; i_ < cnt_; i_++) \
            total_ += (v)[i_].iov_len; \
        uint64_t id_ = carry__tag_id(); \
        if (id_ == 0) { \
            FILE *locked_ __attribute__((cleanup(carry__unlock))) = (fp); \
            flockfile(fp); \
            __typeof__(call) rc_ = (call); \
            carry__tag_noted((fd), (v), cnt_, total_); \
            return rc_; \
        } \
        int saved_errno_ = errno; \
        size_t done = carry__tag_put_copy((fp), (fd), (v), cnt_, id_); \
        if (done == total_) \
            errno = saved_errno_; \
        return (result); \
    } while (0)

CARRY__EXPORT int fputs(const char *s, FILE *fp)
{
    int fd = carry__tag_file(fp);
    if (CARRY__LIKELY(fd < 0))
        return CARRY__REAL(fputs)(s, fp);
    struct iovec v[] = {{(void *)s, strlen(s)}};
    CARRY__STDIO_PUT(fp, fd, v, CARRY__REAL(fputs)(s, fp), done == v[0].iov_len ? 1 : EOF);
}

CARRY__EXPORT int puts(const char *s)
{
    FILE *fp = stdout;
    int fd = carry__tag_file(fp);
    if (CARRY__LIKELY(fd < 0))
        return CARRY__REAL(puts)(s);
    struct iovec v[] = {{(void *)s, strlen(s)}, {"\n", 1}};
    /* glibc's result: the bytes written, at most INT_MAX. */
    CARRY__STDIO_PUT(fp, fd, v, CARRY__REAL(puts)(s),
                     done == v[0].iov_len + 1 ? (done > INT_MAX ? INT_MAX : (int)done) : EOF);
}

CARRY__EXPORT size_t fwrite(const void *p, size_t size, size_t n, FILE *fp)
{
    int fd = carry__tag_file(fp);
    size_t bytes;
    if (CARRY__LIKELY(fd < 0) || __builtin_mul_overflow(size, n, &bytes) || bytes == 0)
        return CARRY__REAL(fwrite)(p, size, n, fp);
    struct iovec v[] = {{(void *)p, bytes}};
    CARRY__STDIO_PUT(fp, fd, v, CARRY__REAL(fwrite)(p, size, n, fp), done / size);
}

/* fputc, putc and putchar are the same function. */
static int carry__putc(int c, FILE *fp)
{
    int fd = carry__tag_file(fp);
    if (CARRY__LIKELY(fd < 0))
        return CARRY__REAL(fputc)(c, fp);
    unsigned char ch = (unsigned char)c;
    struct iovec v[] = {{&ch, 1}};
    CARRY__STDIO_PUT(fp, fd, v, CARRY__REAL(fputc)(c, fp), done == 1 ? ch : EOF);
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

static int carry__printf_file(FILE *fp, const char *fmt, ...)
{
    CARRY__VA(carry__vprintf_file(fp, -1, fmt, ap));
}

/*
 * In a context, perror's line is written as glibc writes it ("s: message"
 * or "message", and %m is the errno perror reads), through stderr.  glibc
 * itself writes through a duplicate of fd 2 when stderr has no orientation
 * yet, to leave it unoriented; carry's line orients stderr to bytes (only a
 * program that then writes wide characters to stderr could tell).
 */
CARRY__EXPORT void perror(const char *s)
{
    FILE *fp = stderr;
    int fd = carry__tag_file(fp);
    if (CARRY__LIKELY(fd < 0)) {
        CARRY__REAL(perror)(s);
        return;
    }
    if (carry__tag_id() == 0) {
        FILE *locked __attribute__((cleanup(carry__unlock))) = fp;
        flockfile(fp);
        CARRY__REAL(perror)(s);
        carry__tag_mark(fd, false);
        return;
    }
    bool named = s != NULL && *s != '\0';
    carry__printf_file(fp, "%s%s%m\n", named ? s : "", named ? ": " : "");
}

/* ---- syslog -------------------------------------------------------------- */

static void carry__syslog_string(int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    CARRY__REAL(vsyslog)(pri, fmt, ap);
    va_end(ap);
}

/* The tag goes in front of the message; %m is expanded by carry with the
 * errno syslog was called with, as syslog would. */
static void carry__vsyslog(int pri, int flag, const char *fmt, va_list ap)
{
    uint64_t id;
    if (CARRY__LIKELY(!carry__tag_syslog()) || (id = carry__tag_id()) == 0 || fmt == NULL) {
        carry__real_vsyslog(pri, flag, fmt, ap);
        return;
    }
    int saved_errno = errno;
    struct carry__tag_buf b __attribute__((cleanup(carry__tag_buf_free)));
    carry__tag_buf_init(&b);
    if (carry__tag_buf_vformat(&b, flag, fmt, ap) < 0) {
        errno = saved_errno;
        carry__real_vsyslog(pri, flag, fmt, ap);
        return;
    }
    carry__tag_format(b.data, id);
    errno = saved_errno;
    /* errno after it is syslog's own (it may report a failed write). */
    carry__syslog_string(pri, "%s", b.data);
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
