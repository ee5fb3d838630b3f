/*
 * Rule W outgoing (inject.h): the traceparent of an outgoing HTTP/1.x
 * request, and the program's writes with carry's bytes among them.
 */
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "current.h"
#include "fdmap.h"
#include "http.h"
#include "inject.h"
#include "log.h"
#include "stats.h"
#include "sys.h"
#include "trace.h"

#define CARRY__INJECT_NAME "traceparent: "
#define CARRY__INJECT_NAME_LEN 13
#define CARRY__INJECT_LINE (CARRY__INJECT_NAME_LEN + CARRY__TRACEPARENT_TEXT + 2)
#define CARRY__INJECT_PARENT 36 /* where a traceparent's parent-id starts */
#define CARRY__INJECT_GATHER 4096 /* bytes of a head spread over several buffers looked at */
#define CARRY__INJECT_PIECES 64   /* buffers per writev */

/*
 * Carry's bytes in the program's stream: a header line put between the
 * program's bytes, or the parent-id of the program's own traceparent,
 * written in place of as many of its bytes (replace).  Kept as the
 * identity its text is formatted from, so that one left waiting for an
 * fd's next write takes 32 bytes in the map.
 */
struct carry__inject_piece {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t flags;
    uint8_t replace;
    uint8_t off;     /* bytes of its text out already */
    uint8_t waiting; /* in the map: it waits for the fd's next write */
    /* The program's bytes before its text still to go (replace: the
     * first of the bytes that text stands for). */
    uint32_t at;
};

/* Pieces left waiting, by fd.  An entry is made when a request is about
 * to get one (so that a partial write never finds no room), and belongs to
 * the thread writing the fd: the program's own bytes on one connection
 * cannot go out from two threads at once either.  The fd's turn bit
 * CARRY__INJECT_WAITING says when to look. */
static struct carry__fdmap carry__inject_waits = {.entry_size =
                                                      sizeof(struct carry__inject_piece)};

/* A piece with its text, during one write. */
struct carry__inject_cut {
    struct carry__inject_piece p;
    char text[CARRY__INJECT_LINE];
    size_t len;
};

bool carry__inject_connected(struct carry__fd *e, int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (carry__sys(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM)
        return false;
    atomic_store_explicit(&e->turn, CARRY__INJECT_NEXT, memory_order_relaxed);
    return true;
}

void carry__inject_closed(int fd)
{
    struct carry__inject_piece *w = carry__fdmap_get(&carry__inject_waits, fd);
    if (w != NULL)
        w->waiting = 0;
}

/* The piece's text: the whole header line, or the 16 hex digits of the
 * span-id. */
static size_t carry__inject_text(const struct carry__inject_piece *p, char *out)
{
    struct carry__trace t = {.flags = p->flags};
    memcpy(t.trace_id, p->trace_id, sizeof t.trace_id);
    memcpy(t.span_id, p->span_id, sizeof t.span_id);
    char value[CARRY__TRACEPARENT_TEXT];
    carry__trace_format(value, &t);
    if (p->replace) {
        memcpy(out, value + CARRY__INJECT_PARENT, 16);
        return 16;
    }
    memcpy(out, CARRY__INJECT_NAME, CARRY__INJECT_NAME_LEN);
    memcpy(out + CARRY__INJECT_NAME_LEN, value, CARRY__TRACEPARENT_TEXT);
    memcpy(out + CARRY__INJECT_NAME_LEN + CARRY__TRACEPARENT_TEXT, "\r\n", 2);
    return CARRY__INJECT_LINE;
}

/* The request head at the start of src (total bytes) when all of it is
 * there: read in place from the first buffer, or from its first
 * CARRY__INJECT_GATHER bytes gathered into buf.  *bytes: what h points
 * into. */
static bool carry__inject_head(const struct iovec *src, int cnt, size_t total, char *buf,
                               const char **bytes, struct carry__http_head *h)
{
    int first = 0;
    while (src[first].iov_len == 0)
        first++;
    const char *b = src[first].iov_base;
    size_t n = src[first].iov_len;
    if (!carry__http_maybe(b, n))
        return false;
    if (n < total && n < CARRY__INJECT_GATHER) {
        n = 0;
        for (int i = first; i < cnt && n < CARRY__INJECT_GATHER; i++) {
            size_t take = src[i].iov_len < CARRY__INJECT_GATHER - n ? src[i].iov_len
                                                                    : CARRY__INJECT_GATHER - n;
            memcpy(buf + n, src[i].iov_base, take);
            n += take;
        }
        b = buf;
    }
    *bytes = b;
    return carry__http_head_read(b, n, h) && h->head_len != 0;
}

/* What carry puts in the request head at the start of src, written in
 * ctx.  False when nothing: no whole head, a traceparent of another trace
 * (or already naming ctx's span, or malformed), no room in the map. */
static bool carry__inject_plan(int fd, const struct iovec *src, int cnt, size_t total,
                               const carry_ctx *ctx, struct carry__inject_cut *c)
{
    char buf[CARRY__INJECT_GATHER];
    const char *b;
    struct carry__http_head h;
    if (!carry__inject_head(src, cnt, total, buf, &b, &h) || h.traceparent_rejected)
        return false;
    c->p = (struct carry__inject_piece){.flags = ctx->trace.flags,
                                        .at = (uint32_t)h.line_len};
    memcpy(c->p.trace_id, ctx->trace.trace_id, sizeof c->p.trace_id);
    memcpy(c->p.span_id, ctx->trace.span_id, sizeof c->p.span_id);
    if (h.traceparent != NULL) {
        char own[CARRY__TRACEPARENT_TEXT];
        carry__trace_format(own, &ctx->trace);
        if (memcmp(h.traceparent + 3, own + 3, 32) != 0 ||
            memcmp(h.traceparent + CARRY__INJECT_PARENT, own + CARRY__INJECT_PARENT, 16) == 0)
            return false;
        c->p.replace = 1;
        c->p.at = (uint32_t)(h.traceparent + CARRY__INJECT_PARENT - b);
    }
    if (carry__fdmap_ensure(&carry__inject_waits, fd) == NULL)
        return false;
    c->len = carry__inject_text(&c->p, c->text);
    return true;
}

/* Is (the rest of) the piece to go out among the program's total bytes? */
static bool carry__inject_due(const struct carry__inject_cut *c, size_t total)
{
    return c->p.off < c->len && (c->p.replace ? c->p.at < total : c->p.at <= total);
}

/* Appends the program's bytes [from, to) to v (*k buffers used), leaving
 * room for one more buffer; returns where they stop. */
static size_t carry__inject_add(struct iovec *v, int *k, const struct iovec *src, int cnt,
                                size_t from, size_t to)
{
    size_t base = 0;
    for (int i = 0; i < cnt && from < to && *k < CARRY__INJECT_PIECES - 1; i++) {
        size_t len = src[i].iov_len;
        if (from < base + len) {
            size_t off = from - base, n = len - off < to - from ? len - off : to - from;
            v[(*k)++] = (struct iovec){(char *)src[i].iov_base + off, n};
            from += n;
        }
        base += len;
    }
    return from;
}

/* One writev's buffers: the program's bytes from written, with the piece
 * where it goes. */
static int carry__inject_round(struct iovec *v, const struct iovec *src, int cnt, size_t total,
                               size_t written, const struct carry__inject_cut *c)
{
    int k = 0;
    bool due = carry__inject_due(c, total);
    size_t pos = carry__inject_add(v, &k, src, cnt, written, due ? c->p.at : total);
    if (!due || pos < c->p.at)
        return k;
    size_t n = c->len - c->p.off;
    if (c->p.replace && n > total - pos)
        n = total - pos;
    v[k++] = (struct iovec){(char *)c->text + c->p.off, n};
    if (c->p.replace)
        pos += n;
    carry__inject_add(v, &k, src, cnt, pos, total);
    return k;
}

/* A piece's first byte goes out (once: a piece left waiting has gone
 * out in part, or not at all). */
static void carry__inject_counted(int fd, const struct carry__inject_cut *c)
{
    carry__count(c->p.replace ? &carry__stats.traceparents_rewritten
                              : &carry__stats.traceparents_injected);
    carry__debug(2, "fd %d: %s traceparent %.*s", fd,
                 c->p.replace ? "rewrites the parent-id of a" : "injects",
                 c->p.replace ? 16 : CARRY__TRACEPARENT_TEXT,
                 c->p.replace ? c->text : c->text + CARRY__INJECT_NAME_LEN);
}

/* The first r bytes of v went out: the program's among them are added to
 * *written, the piece's move it on. */
static void carry__inject_account(int fd, const struct iovec *v, int k, size_t r,
                                  struct carry__inject_cut *c, size_t *written)
{
    for (int j = 0; j < k && r > 0; j++) {
        size_t n = r < v[j].iov_len ? r : v[j].iov_len;
        r -= n;
        if (v[j].iov_base != c->text + c->p.off) {
            *written += n;
            continue;
        }
        if (c->p.off == 0)
            carry__inject_counted(fd, c);
        c->p.off = (uint8_t)(c->p.off + n);
        if (c->p.replace) {
            *written += n;
            c->p.at += (uint32_t)n;
        }
    }
}

/* The piece has not all gone out: it waits for the fd's next write, whose
 * first byte follows the written ones. */
static void carry__inject_wait(struct carry__fd *e, int fd, struct carry__inject_cut *c,
                               size_t written)
{
    struct carry__inject_piece *w = carry__fdmap_get(&carry__inject_waits, fd);
    if (w == NULL)
        return;
    *w = c->p;
    w->at = (uint32_t)(c->p.at - written);
    w->waiting = 1;
    atomic_fetch_or_explicit(&e->turn, CARRY__INJECT_WAITING, memory_order_release);
}

/* Takes the piece waiting for fd's next write, if there is one. */
static bool carry__inject_take(struct carry__fd *e, int fd, struct carry__inject_cut *c)
{
    atomic_fetch_and_explicit(&e->turn, (uint8_t)~CARRY__INJECT_WAITING, memory_order_acquire);
    struct carry__inject_piece *w = carry__fdmap_get(&carry__inject_waits, fd);
    if (w == NULL || !w->waiting)
        return false;
    c->p = *w;
    w->waiting = 0;
    c->len = carry__inject_text(&c->p, c->text);
    return c->p.off < c->len;
}

ssize_t carry__inject_writev(int fd, const struct iovec *src, int cnt, bool addable,
                             carry__sendv_fn *out, const void *call)
{
    int saved_errno = errno;
    struct carry__fd *e = carry__fd_get(fd);
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        /* Bad arguments and huge writes get the kernel's answer: reading
         * a bad buffer here would crash where it returns EFAULT. */
        if ((src[i].iov_len > 0 && src[i].iov_base == NULL) ||
            src[i].iov_len > SSIZE_MAX / 2 - total)
            return out(call, fd, src, cnt);
        total += src[i].iov_len;
    }
    if (e == NULL || total == 0)
        return out(call, fd, src, cnt);
    unsigned turn = atomic_load_explicit(&e->turn, memory_order_relaxed);
    struct carry__inject_cut c = {.len = 0};
    bool piece = false;
    if (turn & CARRY__INJECT_WAITING) {
        piece = carry__inject_take(e, fd, &c);
    } else if ((turn & CARRY__INJECT_NEXT) && addable) {
        carry_ctx *ctx = carry__current();
        piece = ctx != NULL && carry__inject_plan(fd, src, cnt, total, ctx, &c);
    }
    if (!piece) {
        errno = saved_errno;
        ssize_t rc = out(call, fd, src, cnt);
        if (rc > 0 && (turn & CARRY__INJECT_NEXT))
            atomic_fetch_and_explicit(&e->turn, (uint8_t)~CARRY__INJECT_NEXT,
                                      memory_order_relaxed);
        return rc;
    }

    size_t written = 0;
    ssize_t r = 0;
    for (;;) {
        struct iovec v[CARRY__INJECT_PIECES];
        int k = carry__inject_round(v, src, cnt, total, written, &c);
        if (k == 0)
            break;
        size_t chunk = 0;
        for (int j = 0; j < k; j++)
            chunk += v[j].iov_len;
        errno = saved_errno;
        r = out(call, fd, v, k);
        if (r < 0)
            break;
        if (r > 0 && (turn & CARRY__INJECT_NEXT)) {
            atomic_fetch_and_explicit(&e->turn, (uint8_t)~CARRY__INJECT_NEXT,
                                      memory_order_relaxed);
            turn &= ~CARRY__INJECT_NEXT;
        }
        carry__inject_account(fd, v, k, (size_t)r, &c, &written);
        /* A partial write: the program hears of it as such, unless only
         * carry's bytes got out (a write of n > 0 bytes that returns 0
         * reads as end of file to many loops): then go on at once. */
        if ((size_t)r < chunk && (r == 0 || written > 0))
            break;
    }
    int errno_out = errno;
    if (c.p.off < c.len)
        carry__inject_wait(e, fd, &c, written);
    if (written == 0 && r < 0) {
        errno = errno_out;
        return -1;
    }
    errno = saved_errno;
    return (ssize_t)written;
}
