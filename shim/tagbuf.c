/*
 * CARRY_TAG at a stream: buffers with room for the tags, and their way
 * into the stream.  The line state is fd's (tag.c), shared with raw
 * writes to the same fd.
 */
#include <stdlib.h>
#include <string.h>

#include "tag.h"
#include "tagbuf.h"

/* __vsnprintf_chk is declared by <stdio.h> only under _FORTIFY_SOURCE. */
extern int __vsnprintf_chk(char *s, size_t maxlen, int flag, size_t slen, const char *fmt,
                           va_list ap);

void carry__tag_buf_init(struct carry__tag_buf *b)
{
    b->data = b->stack;
    b->len = 0;
    b->cap = sizeof b->stack;
}

void carry__tag_buf_free(struct carry__tag_buf *b)
{
    if (b->data != b->stack)
        free(b->data);
    b->data = b->stack;
}

/* Room for cap bytes in all, keeping the program's bytes. */
static bool carry__tag_buf_reserve(struct carry__tag_buf *b, size_t cap)
{
    if (cap <= b->cap)
        return true;
    int saved_errno = errno;
    char *data = malloc(cap);
    errno = saved_errno;
    if (data == NULL)
        return false;
    memcpy(data + CARRY__TAG_MAX, b->data + CARRY__TAG_MAX, b->len);
    carry__tag_buf_free(b);
    b->data = data;
    b->cap = cap;
    return true;
}

int carry__tag_buf_vformat(struct carry__tag_buf *b, int flag, const char *fmt, va_list ap)
{
    size_t room = b->cap - CARRY__TAG_MAX;
    va_list aq;
    va_copy(aq, ap);
    int n = __vsnprintf_chk(b->data + CARRY__TAG_MAX, room, flag, room, fmt, aq);
    va_end(aq);
    if (n < 0)
        return -1;
    if ((size_t)n >= room) {
        /* Too large for the stack: format again into the heap.  (Twice
         * through the arguments, as vfprintf itself does for positional
         * ones: the values are the same both times.) */
        if (!carry__tag_buf_reserve(b, CARRY__TAG_MAX + (size_t)n + 1)) {
            errno = ENOMEM;
            return -1;
        }
        room = b->cap - CARRY__TAG_MAX;
        va_copy(aq, ap);
        n = __vsnprintf_chk(b->data + CARRY__TAG_MAX, room, flag, room, fmt, aq);
        va_end(aq);
        if (n < 0)
            return -1;
    }
    b->len = (size_t)n;
    return n;
}

bool carry__tag_buf_copy(struct carry__tag_buf *b, const struct iovec *src, int cnt)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += src[i].iov_len;
    b->len = 0;
    if (!carry__tag_buf_reserve(b, CARRY__TAG_MAX + total)) {
        errno = ENOMEM;
        return false;
    }
    for (int i = 0; i < cnt; i++) {
        memcpy(b->data + CARRY__TAG_MAX + b->len, src[i].iov_base, src[i].iov_len);
        b->len += src[i].iov_len;
    }
    return true;
}

/* Tags the program's bytes need: one at the start if the stream is at a
 * line start, one after each newline that more bytes follow. */
static size_t carry__tag_count(const char *data, size_t n, bool start)
{
    size_t k = start;
    for (const char *p = data, *end = data + n - 1; p < end; p++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (p == NULL)
            break;
        k++;
    }
    return k;
}

/* The program's n bytes among the first w bytes of out, their tagged
 * output (a tag of tl bytes first if start, and after every newline if
 * tags). */
static size_t carry__tag_program_bytes(const char *out, size_t n, bool start, bool tags,
                                       size_t tl, size_t w)
{
    size_t done = 0, o = 0;
    while (done < n) {
        if (start) {
            if (w <= o + tl)
                break;
            o += tl;
        }
        const char *nl = memchr(out + o, '\n', n - done);
        size_t len = nl ? (size_t)(nl - (out + o)) + 1 : n - done;
        if (w <= o + len)
            return done + (w - o);
        o += len;
        done += len;
        start = tags;
    }
    return done;
}

/* Without room for the tags: each tag and each line on its own. */
static size_t carry__tag_put_pieces(FILE *fp, const char *data, size_t n, bool start,
                                    const char *tag, size_t tl)
{
    size_t done = 0;
    while (done < n) {
        if (start && fwrite_unlocked(tag, 1, tl, fp) != tl)
            break;
        const char *nl = memchr(data + done, '\n', n - done);
        size_t len = nl ? (size_t)(nl - (data + done)) + 1 : n - done;
        size_t w = fwrite_unlocked(data + done, 1, len, fp);
        done += w;
        if (w < len)
            break;
        start = nl != NULL;
    }
    return done;
}

/* Does fp's next byte start a line?  Under fp's lock.  Bytes the stream
 * holds end with the line's last byte, also when carry did not write them
 * (the _unlocked functions' inline forms fill the buffer unseen); with
 * none held, what carry noted of fd's last write tells.  ThreadSanitizer
 * does not know glibc's stream lock, which orders these reads after the
 * other threads' writes into the buffer: it is left out of them. */
static __attribute__((noinline, no_sanitize("thread"))) bool
carry__tag_stream_line_start(FILE *fp, int fd)
{
    if (fp->_IO_write_ptr > fp->_IO_write_base)
        return fp->_IO_write_ptr[-1] == '\n';
    return carry__tag_line_start(fd);
}

size_t carry__tag_put(FILE *fp, int fd, struct carry__tag_buf *b, carry__tag_who id)
{
    size_t n = b->len;
    if (n == 0)
        return 0;
    FILE *locked CARRY__SCOPED(carry__tag_unlock) = fp;
    flockfile(fp);
    bool start = id.id != 0 && carry__tag_stream_line_start(fp, fd);
    char *data = b->data + CARRY__TAG_MAX;
    char last = data[n - 1];
    size_t k = id.id != 0 ? carry__tag_count(data, n, start) : 0, done;
    char tag[CARRY__TAG_MAX];
    size_t tl = k > 0 ? carry__tag_format(tag, id) : 0;

    /* The first tag goes in the room in front, the others after it. */
    if (k > 0 && !carry__tag_buf_reserve(b, CARRY__TAG_MAX + n + tl * (k - start))) {
        done = carry__tag_put_pieces(fp, data, n, start, tag, tl);
    } else {
        /* Insert the tags in place, from the end, so that the whole
         * output goes to the stream in one piece. */
        data = b->data + CARRY__TAG_MAX;
        char *out = start ? data - tl : data;
        size_t total = n + tl * k;
        char *dst = out + total;
        const char *src = data + n;
        for (size_t left = k; left > 0; left--) {
            const char *from = data;
            if (left > 1 || !start)
                from = (const char *)memrchr(data, '\n', (size_t)(src - 1 - data)) + 1;
            size_t len = (size_t)(src - from);
            dst -= len;
            memmove(dst, from, len);
            dst -= tl;
            memcpy(dst, tag, tl);
            src = from;
        }
        size_t w = fwrite_unlocked(out, 1, total, fp);
        done = w == total ? n : carry__tag_program_bytes(out, n, start, id.id != 0, tl, w);
    }
    if (done == n)
        carry__tag_mark(fd, last != '\n');
    else if (done > 0)
        carry__tag_mark(fd, true);
    return done;
}

size_t carry__tag_put_copy(FILE *fp, int fd, const struct iovec *src, int cnt, carry__tag_who id)
{
    struct carry__tag_buf b CARRY__SCOPED(carry__tag_buf_free);
    carry__tag_buf_init(&b);
    if (carry__tag_buf_copy(&b, src, cnt))
        return carry__tag_put(fp, fd, &b, id);
    /* No memory for a large write: tag it piece by piece. */
    FILE *locked CARRY__SCOPED(carry__tag_unlock) = fp;
    flockfile(fp);
    char tag[CARRY__TAG_MAX];
    size_t tl = carry__tag_format(tag, id);
    size_t done = 0;
    bool start = id.id != 0 && carry__tag_stream_line_start(fp, fd);
    for (int i = 0; i < cnt; i++) {
        size_t len = src[i].iov_len;
        if (len == 0)
            continue;
        const char *data = src[i].iov_base;
        size_t w = id.id != 0 ? carry__tag_put_pieces(fp, data, len, start, tag, tl)
                           : fwrite_unlocked(data, 1, len, fp);
        done += w;
        if (w < len) {
            if (w > 0)
                carry__tag_mark(fd, true);
            return done;
        }
        start = data[len - 1] == '\n';
        carry__tag_mark(fd, !start);
    }
    return done;
}
