/*
 * CARRY_TAG's shared state, and the tagging of raw writes.
 *
 * Each tagged fd (1 and 2) has one line state, shared by the raw writes
 * and the streams on it: whether the last byte written was a newline, and
 * a tag a partial write left half-written.  A tag goes in front of a
 * line's first byte, with the context current when that byte is written;
 * the rest of the line, in whatever pieces and contexts, gets none.  A line
 * begun with no context gets none either, which is why writes with no
 * context still note how they ended.
 *
 * The state is updated with relaxed atomics after each write: lines that
 * several threads write whole (the case that matters) always start at a
 * line start; threads that write pieces of lines to one fd at the same
 * moment interleave their bytes anyway, and their tags then follow the
 * order in which the writes completed.
 */
#include <limits.h>
#include <string.h>

#include "config.h"
#include "fd.h"
#include "tag.h"

/* Which lines the stdio and syslog wrappers hand to the core (hooks.h):
 * all of them until start-up says which are tagged. */
_Atomic unsigned carry__lines_watch = CARRY__LINES_START;

void carry__tag_start(void)
{
    unsigned watch = 0;
    if (carry__config.tag & CARRY__TAG_FDS)
        watch |= CARRY__LINES_STD;
    if (carry__config.tag & CARRY__TAG_SYSLOG)
        watch |= CARRY__LINES_SYSLOG;
    atomic_store_explicit(&carry__lines_watch, watch, memory_order_relaxed);
}

/* Bit 0: the last byte written was not a newline.  Bits 8-15: how many
 * bytes of a tag that a partial write cut short are out already, 0 if
 * none (whose tag it is: the pending_ fields). */
struct carry__tag_line {
    _Atomic uint32_t state;
    _Atomic uint64_t pending_id, pending_conn, pending_trace_hi, pending_trace_lo;
};

#define CARRY__TAG_MID 1u
#define CARRY__TAG_PENDING_SHIFT 8

static struct carry__tag_line carry__tag_lines[3];

struct carry__tag_state {
    bool mid;
    uint32_t pending; /* bytes of the pending tag already written */
    carry__tag_who pending_who;
};

static struct carry__tag_state carry__tag_load(int fd)
{
    struct carry__tag_line *l = &carry__tag_lines[fd];
    uint32_t w = atomic_load_explicit(&l->state, memory_order_relaxed);
    struct carry__tag_state s = {(w & CARRY__TAG_MID) != 0, w >> CARRY__TAG_PENDING_SHIFT,
                                 {0, 0, 0, 0}};
    if (s.pending != 0) {
        s.pending_who.id = atomic_load_explicit(&l->pending_id, memory_order_relaxed);
        s.pending_who.conn = atomic_load_explicit(&l->pending_conn, memory_order_relaxed);
        s.pending_who.trace_hi = atomic_load_explicit(&l->pending_trace_hi, memory_order_relaxed);
        s.pending_who.trace_lo = atomic_load_explicit(&l->pending_trace_lo, memory_order_relaxed);
    }
    /* Read apart from state, they may disagree while threads race on
     * partial writes: never trust an offset out of range. */
    if (s.pending >= carry__tag_len(s.pending_who) || s.pending_who.id == 0)
        s.pending = 0;
    return s;
}

static void carry__tag_store(int fd, struct carry__tag_state s)
{
    struct carry__tag_line *l = &carry__tag_lines[fd];
    if (s.pending != 0) {
        atomic_store_explicit(&l->pending_id, s.pending_who.id, memory_order_relaxed);
        atomic_store_explicit(&l->pending_conn, s.pending_who.conn, memory_order_relaxed);
        atomic_store_explicit(&l->pending_trace_hi, s.pending_who.trace_hi, memory_order_relaxed);
        atomic_store_explicit(&l->pending_trace_lo, s.pending_who.trace_lo, memory_order_relaxed);
    }
    atomic_store_explicit(&l->state,
                          (s.mid ? CARRY__TAG_MID : 0) | s.pending << CARRY__TAG_PENDING_SHIFT,
                          memory_order_relaxed);
}

bool carry__tag_line_start(int fd)
{
    return !carry__tag_load(fd).mid;
}

void carry__tag_mark(int fd, bool mid)
{
    struct carry__tag_state s = carry__tag_load(fd);
    if (s.mid != mid && s.pending == 0) {
        s.mid = mid;
        carry__tag_store(fd, s);
    }
}

void carry__tag_reset(void)
{
    for (int fd = 0; fd < 3; fd++)
        carry__tag_store(fd, (struct carry__tag_state){false, 0, {0, 0, 0, 0}});
}

size_t carry__tag_format(char *out, carry__tag_who who)
{
    if (carry__config.tag_otel) {
        memcpy(out, "trace_id=", 9);
        carry__hex16(out + 9, who.trace_hi);
        carry__hex16(out + 25, who.trace_lo);
        memcpy(out + 41, " span_id=", 9);
        carry__hex16(out + 50, who.id);
        out[66] = ' ';
        return CARRY__TAG_MAX;
    }
    memcpy(out, "[carry ", 7);
    carry__hex16(out + 7, who.id);
    size_t end = 23;
    if (who.conn != 0) {
        out[end++] = ' ';
        carry__hex16(out + end, who.conn);
        end += 16;
    }
    out[end++] = ']';
    out[end++] = ' ';
    return end;
}

carry__tag_who carry__tag_current(void)
{
    carry_ctx *ctx = carry__current();
    if (ctx == NULL)
        return (carry__tag_who){0, 0, 0, 0};
    if (carry__config.tag_otel)
        return (carry__tag_who){ctx->id, 0, carry__trace_hi(&ctx->trace),
                                carry__trace_lo(&ctx->trace)};
    return (carry__tag_who){ctx->id, ctx->parent ? ctx->parent->id : 0, 0, 0};
}

bool carry__tag_fd_slow(int fd)
{
    if ((unsigned)fd > 2 || !(carry__config.tag & (1u << fd)))
        return false;
    /* A connection that took the number of a closed stdout or stderr is
     * the program's protocol, not its log. */
    struct carry__fd *e = carry__fdmap_get(&carry__fds, fd);
    return e == NULL || atomic_load_explicit(&e->kind, memory_order_relaxed) == CARRY__FD_NONE;
}

int carry__tag_file_slow(FILE *fp)
{
    if (fp == NULL)
        return -1;
    /* fileno_unlocked checks that fp is a file stream (memory streams
     * leave _fileno uninitialised) and sets errno when it is not. */
    int saved_errno = errno;
    int fd = fileno_unlocked(fp);
    errno = saved_errno;
    /* A wide-oriented stream takes no bytes: leave it to libc. */
    if (fp->_mode > 0 || !carry__tag_fd_slow(fd))
        return -1;
    return fd;
}

void carry__tag_noted(int fd, const struct iovec *src, int cnt, size_t n)
{
    /* The n-th byte of src, walking its buffers. */
    for (int i = 0; i < cnt && n > 0; i++) {
        if (n <= src[i].iov_len) {
            carry__tag_mark(fd, ((const char *)src[i].iov_base)[n - 1] != '\n');
            return;
        }
        n -= src[i].iov_len;
    }
}

/* ---- Raw writes ---------------------------------------------------------- */

/* Where the program's bytes not yet written start. */
struct carry__tag_cursor {
    const struct iovec *src;
    int cnt, i;
    size_t off;
};

static void carry__tag_skip(struct carry__tag_cursor *c, size_t n)
{
    while (c->i < c->cnt && (n > 0 || c->src[c->i].iov_len == c->off)) {
        size_t left = c->src[c->i].iov_len - c->off;
        if (n < left) {
            c->off += n;
            return;
        }
        n -= left;
        c->i++;
        c->off = 0;
    }
}

/* The tags of one writev: its pieces whose bytes are in here are (what is
 * left of) a tag; the others are the program's bytes, each ending at the
 * first newline if any. */
struct carry__tag_texts {
    char tag[CARRY__TAG_MAX];     /* the current context's */
    char pending[CARRY__TAG_MAX]; /* the one a partial write cut short */
    size_t tag_len, pending_len;
    carry__tag_who id, pending_who;
};

/* What one writev did to the line state: *done gets the program's bytes
 * among the first r bytes written. */
static struct carry__tag_state carry__tag_account(struct carry__tag_state s,
                                                  const struct carry__tag_texts *t,
                                                  const struct iovec *out, int k, size_t r,
                                                  size_t *done)
{
    *done = 0;
    for (int j = 0; j < k && r > 0; j++) {
        const char *p = out[j].iov_base;
        size_t len = out[j].iov_len, n = r < len ? r : len;
        r -= n;
        bool current = p == t->tag,
             pending = p >= t->pending && p < t->pending + t->pending_len;
        if (current || pending) {
            /* A tag: the line has begun; a tag cut short is finished by
             * the next write. */
            s.mid = true;
            s.pending = n < len ? (uint32_t)(p - (current ? t->tag : t->pending) + n) : 0;
            s.pending_who = current ? t->id : t->pending_who;
        } else {
            *done += n;
            s.mid = p[n - 1] != '\n';
            s.pending = 0;
        }
    }
    return s;
}

ssize_t carry__tag_writev(int fd, const struct iovec *src, int cnt, carry__tag_who id,
                          carry__writev_fn *tagged, carry__writev_fn *plain, bool all)
{
    int saved_errno = errno;
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        /* Leave bad arguments and huge writes to the kernel, untouched:
         * reading a bad buffer here would crash where it returns EFAULT. */
        if (src[i].iov_len > 0 && src[i].iov_base == NULL)
            return plain(fd, src, cnt);
        total += src[i].iov_len;
        if (total > SSIZE_MAX / 2)
            return plain(fd, src, cnt);
    }
    struct carry__tag_state s = carry__tag_load(fd);
    if (total == 0 || (id.id == 0 && s.pending == 0 && !all)) {
        ssize_t rc = plain(fd, src, cnt);
        if (rc > 0)
            carry__tag_noted(fd, src, cnt, (size_t)rc);
        return rc;
    }

    /* The texts are written before they are read: only the rest is
     * cleared (the two buffers are most of the struct). */
    struct carry__tag_texts t;
    t.id = id;
    t.pending_who = (carry__tag_who){0};
    t.tag_len = id.id != 0 ? carry__tag_format(t.tag, id) : 0;
    t.pending_len = 0;
    size_t written = 0;
    for (;;) {
        struct carry__tag_cursor c = {src, cnt, 0, 0};
        carry__tag_skip(&c, written);
        struct iovec out[CARRY__TAG_PIECES];
        int k = 0;
        size_t chunk = 0;
        bool start = !s.mid;
        if (s.pending != 0) {
            t.pending_who = s.pending_who;
            t.pending_len = carry__tag_format(t.pending, s.pending_who);
            out[k++] = (struct iovec){t.pending + s.pending, t.pending_len - s.pending};
            start = false;
        }
        /* Room for a tag and its line in each round.  Without tags, the
         * program's buffers go as they are. */
        while (c.i < cnt && k < CARRY__TAG_PIECES - 1) {
            const char *p = (const char *)src[c.i].iov_base + c.off;
            size_t left = src[c.i].iov_len - c.off;
            if (left == 0) {
                carry__tag_skip(&c, 0);
                continue;
            }
            if (start && id.id != 0)
                out[k++] = (struct iovec){t.tag, t.tag_len};
            const char *nl = id.id != 0 ? memchr(p, '\n', left) : NULL;
            size_t len = nl ? (size_t)(nl - p) + 1 : left;
            out[k++] = (struct iovec){(void *)p, len};
            start = nl != NULL;
            carry__tag_skip(&c, len);
        }
        for (int j = 0; j < k; j++)
            chunk += out[j].iov_len;
        if (k == 0)
            break;
        ssize_t r = tagged(fd, out, k);
        if (r < 0) {
            if (written > 0 && !all)
                break;
            return -1;
        }
        size_t done;
        s = carry__tag_account(s, &t, out, k, (size_t)r, &done);
        carry__tag_store(fd, s);
        written += done;
        if (written == total)
            break;
        if ((size_t)r < chunk) {
            /* A partial write: the program hears of it as such, unless
             * only carry's bytes got out (then go on: a write of n > 0
             * bytes that returns 0 reads as end of file to many loops). */
            if (r == 0)
                break;
            if (written > 0 && !all)
                break;
        }
    }
    errno = saved_errno;
    return (ssize_t)written;
}
