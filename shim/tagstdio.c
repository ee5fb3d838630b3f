/*
 * CARRY_TAG for stdio, dprintf and syslog.
 *
 * In a context, carry formats or copies the program's bytes and writes
 * them with their tags (tagbuf.c for a stream, tag.c for dprintf's fd);
 * syslog gets the tag in front of its message.  When carry cannot (no
 * memory for an output larger than its stack buffer, a format libc
 * rejects), the real function runs, untagged, and gives its own result.
 *
 * With no context current the real function runs, and carry notes whether
 * the line ended, so that a line begun with no context is not tagged when
 * a context finishes it.  On a stream that happens under the stream's
 * lock, so that no other thread's line comes between the write and the
 * note.  A printf format that does not end in a newline is formatted by
 * carry, to learn that.
 */
#include <string.h>

#include "tag.h"
#include "tagbuf.h"
#include "tagstdio.h"

/* Does every output of fmt end a line?  A format's newline is always
 * literal text (no conversion ends with one). */
static bool carry__ends_line(const char *fmt)
{
    size_t n = strlen(fmt);
    return n > 0 && fmt[n - 1] == '\n';
}

/* A printf-like line, formatted into b for carry to write with its tags:
 * its length; CARRY__LINE_PLAIN when the real function is to write it
 * (no context, and fmt ends the line: nothing to tag or to note but the
 * line's end); CARRY__LINE_FAILED when it cannot be formatted (no memory
 * for an output larger than b's stack, or a format libc rejects too: the
 * real function gives its own result).  errno is left as on entry. */
enum { CARRY__LINE_PLAIN = -2, CARRY__LINE_FAILED = -1 };

__attribute__((always_inline)) static inline int
carry__line_format(struct carry__tag_buf *b, carry__tag_who id, int flag, const char *fmt, va_list ap)
{
    if (id.id == 0 && carry__ends_line(fmt))
        return CARRY__LINE_PLAIN;
    int saved_errno = errno;
    int n = carry__tag_buf_vformat(b, flag, fmt, ap);
    errno = saved_errno;
    return n < 0 ? CARRY__LINE_FAILED : n;
}

int carry__tag_vfprintf(FILE *fp, int fd, int flag, const char *fmt, va_list ap,
                        carry__vfprintf_fn *real)
{
    carry__tag_who id = carry__tag_current();
    struct carry__tag_buf b CARRY__SCOPED(carry__tag_buf_free);
    carry__tag_buf_init(&b);
    int n = carry__line_format(&b, id, flag, fmt, ap);
    if (n == CARRY__LINE_PLAIN) {
        FILE *locked CARRY__SCOPED(carry__tag_unlock) = fp;
        flockfile(fp);
        int rc = real(fp, flag, fmt, ap);
        carry__tag_mark(fd, false);
        return rc;
    }
    if (n == CARRY__LINE_FAILED)
        return real(fp, flag, fmt, ap);
    int saved_errno = errno;
    if (carry__tag_put(fp, fd, &b, id) < (size_t)n)
        return -1;
    errno = saved_errno;
    return n;
}

int carry__tag_vdprintf(int fd, int flag, const char *fmt, va_list ap, carry__vdprintf_fn *real,
                        carry__writev_fn *real_writev)
{
    carry__tag_who id = carry__tag_current();
    struct carry__tag_buf b CARRY__SCOPED(carry__tag_buf_free);
    carry__tag_buf_init(&b);
    int n = carry__line_format(&b, id, flag, fmt, ap);
    if (n == CARRY__LINE_PLAIN) {
        int rc = real(fd, flag, fmt, ap);
        carry__tag_mark(fd, false);
        return rc;
    }
    /* Nothing to write: vdprintf makes no system call either. */
    if (n == 0)
        return 0;
    if (n == CARRY__LINE_FAILED)
        return real(fd, flag, fmt, ap);
    /* Like vdprintf, write everything or fail. */
    int saved_errno = errno;
    struct iovec v = {b.data + CARRY__TAG_MAX, (size_t)n};
    if (carry__tag_writev(fd, &v, 1, id, real_writev, real_writev, true) != n)
        return -1;
    errno = saved_errno;
    return n;
}

bool carry__tag_fput(FILE *fp, int fd, const struct iovec *bytes, int cnt, carry__put_fn *real,
                     void *call, size_t *done)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += bytes[i].iov_len;
    carry__tag_who id = carry__tag_current();
    if (id.id == 0) {
        FILE *locked CARRY__SCOPED(carry__tag_unlock) = fp;
        flockfile(fp);
        real(call);
        carry__tag_noted(fd, bytes, cnt, total);
        return false;
    }
    int saved_errno = errno;
    *done = carry__tag_put_copy(fp, fd, bytes, cnt, id);
    if (*done == total)
        errno = saved_errno;
    return true;
}

__attribute__((format(printf, 2, 3))) static int carry__perror_format(struct carry__tag_buf *b,
                                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = carry__tag_buf_vformat(b, -1, fmt, ap);
    va_end(ap);
    return n;
}

/*
 * In a context, perror's line is written as glibc writes it ("s: message"
 * or "message", and %m is the errno perror reads), through the stream.
 * glibc itself writes through a duplicate of fd 2 when stderr has no
 * orientation yet, to leave it unoriented; carry's line orients stderr to
 * bytes (only a program that then writes wide characters to stderr could
 * tell).
 */
void carry__tag_perror(FILE *fp, int fd, const char *s, void (*real)(const char *s))
{
    carry__tag_who id = carry__tag_current();
    if (id.id == 0) {
        FILE *locked CARRY__SCOPED(carry__tag_unlock) = fp;
        flockfile(fp);
        real(s);
        carry__tag_mark(fd, false);
        return;
    }
    int saved_errno = errno;
    struct carry__tag_buf b CARRY__SCOPED(carry__tag_buf_free);
    carry__tag_buf_init(&b);
    bool named = s != NULL && *s != '\0';
    int n = carry__perror_format(&b, "%s%s%m\n", named ? s : "", named ? ": " : "");
    if (n < 0) {
        errno = saved_errno;
        real(s);
        return;
    }
    if (carry__tag_put(fp, fd, &b, id) == (size_t)n)
        errno = saved_errno;
}

/* The message, with its tag, as a string that syslog does not format
 * again. */
__attribute__((format(printf, 3, 4))) static void
carry__tag_syslog_string(carry__vsyslog_fn *real, int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    real(pri, -1, fmt, ap);
    va_end(ap);
}

/* The tag goes in front of the message; %m is expanded by carry with the
 * errno syslog was called with, as syslog would. */
void carry__tag_vsyslog(int pri, int flag, const char *fmt, va_list ap, carry__vsyslog_fn *real)
{
    carry__tag_who id = carry__tag_current();
    if (id.id == 0) {
        real(pri, flag, fmt, ap);
        return;
    }
    int saved_errno = errno;
    struct carry__tag_buf b CARRY__SCOPED(carry__tag_buf_free);
    carry__tag_buf_init(&b);
    if (carry__tag_buf_vformat(&b, flag, fmt, ap) < 0) {
        errno = saved_errno;
        real(pri, flag, fmt, ap);
        return;
    }
    /* The tag ends where the message begins. */
    char *tagged = b.data + CARRY__TAG_MAX - carry__tag_len(id);
    carry__tag_format(tagged, id);
    errno = saved_errno;
    /* errno after it is syslog's own (it may report a failed write). */
    carry__tag_syslog_string(real, pri, "%s", tagged);
}
