/* Rule R, the requests of a connection (request.h). */
#include "config.h"
#include "current.h"
#include "http.h"
#include "init.h"
#include "log.h"
#include "request.h"
#include "stats.h"

/* An HTTP/1.x head at the start of the request's first bytes gives it
 * keys, kept raw until they are read; the context is not shared yet, so
 * nothing reads them half-made.  Out of memory, they are missing.  Called
 * when carry__http_maybe. */
static __attribute__((noinline)) void carry__request_http(carry_ctx *req, const char *bytes,
                                                          size_t len)
{
    struct carry__http_head h;
    if (!carry__http_head_read(bytes, len, &h))
        return;
    int saved_errno = errno; /* the keys may allocate */
    carry__ctx_keep_http(req, &h);
    carry__trace_set_method(&req->trace, h.method, h.method_len);
    bool adopt = h.traceparent != NULL && carry__config.trace != CARRY__TRACE_OFF;
    if (adopt) {
        carry__trace_adopt(&req->trace, h.traceparent);
        carry__debug(2, "context %016llx adopts traceparent %.55s", (unsigned long long)req->id,
                     h.traceparent);
    }
    carry__count(&carry__stats.http_heads);
    if (adopt)
        carry__count(&carry__stats.traceparents);
    if (h.traceparent_rejected)
        carry__count(&carry__stats.traceparents_rejected);
    errno = saved_errno;
}

/* What a new request needs when a rare feature is on (carry__rare) or its
 * bytes may begin an HTTP head: its keys, its span's start, its counts. */
static __attribute__((noinline)) void carry__request_made_rare(int fd, carry_ctx *req,
                                                               const char *bytes, size_t len)
{
    if (carry__http_maybe(bytes, len))
        carry__request_http(req, bytes, len);
    carry__span_begin(&req->trace);
    if (carry__counting()) {
        atomic_fetch_add_explicit(&carry__stats.requests, 1, memory_order_relaxed);
        carry__stats_raise(&carry__stats.requests_max, req->seq);
    }
    carry__debug(3, "request %u on fd %d: context %016llx", req->seq, fd,
                 (unsigned long long)req->id);
}

/* req, e's new request, is made, before any other thread can see it.
 * Inline in both ways a request begins. */
static inline __attribute__((always_inline)) void
carry__request_made(struct carry__fd *e, int fd, carry_ctx *req, const char *bytes, size_t len,
                    bool rare)
{
    /* Only the read that took the turn counts: no atomic add needed. */
    uint32_t seq = atomic_load_explicit(&e->seq, memory_order_relaxed) + 1;
    atomic_store_explicit(&e->seq, seq, memory_order_relaxed);
    req->seq = seq;
    if (rare)
        carry__request_made_rare(fd, req, bytes, len);
}

/* The request before, current and held by nothing but the fd and this
 * thread, is renewed in place as the next (the common turn of a server
 * that reads each request on the thread that answered the last).
 * Profilers see no context while its record changes.  Its new id is id,
 * taken here (carry__id_take) when not rare.  Without rare, the turn makes
 * no call but its last, so that it saves no registers. */
static inline __attribute__((always_inline)) bool
carry__request_renew(struct carry__fd *e, int fd, carry_ctx *last, const char *bytes, size_t len,
                     bool rare, uint64_t id)
{
    if (last->parent == NULL ||
        last->parent != atomic_load_explicit(&e->conn, memory_order_relaxed) ||
        !carry__ctx_owned(last))
        return false;
    carry__current_unpublish();
    struct carry__chunk *arena;
    if (!carry__ctx_renew_begin(last, &arena, rare, id)) {
        carry__current_republish(last);
        return false;
    }
    if (!rare)
        carry__id_take();
    carry__request_made(e, fd, last, bytes, len, rare);
    carry__ctx_renew_end(last, rare);
    carry__current_republish(last);
    if (arena != NULL)
        carry__store_free_arena(arena);
    return true;
}

/* A request of e's connection begins in a new context: without memory,
 * none (the fd delivers no context of its own, and the thread runs in
 * none). */
static __attribute__((noinline)) void carry__request_begin_new(struct carry__fd *e, int fd,
                                                               const char *bytes, size_t len)
{
    /* The request's link to its connection takes this reference. */
    carry_ctx *conn = carry__slot_take(&e->conn);
    if (conn == NULL)
        return;
    int saved_errno = errno;
    carry_ctx *req = carry__ctx_new_local();
    if (req != NULL) {
        req->parent = conn;
        carry__request_made(e, fd, req, bytes, len, true);
    } else {
        carry__ctx_unref(conn);
    }
    carry__slot_store(&e->owner, req);
    carry__current_adopt(req);
    errno = saved_errno;
}

/* A read that asked for asked bytes returned rc, end-of-file or an error
 * (errno): unless it only found no data yet, or asked for none, the
 * connection's own context is current again, and what fd delivers. */
static __attribute__((noinline)) void carry__request_end(struct carry__fd *e, ssize_t rc,
                                                         size_t asked)
{
    if (rc < 0 ? errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR : asked == 0)
        return;
    carry_ctx *conn = carry__slot_take_local(&e->conn);
    if (conn == NULL)
        return;
    int saved_errno = errno;
    if (atomic_load_explicit(&e->owner, memory_order_relaxed) != conn)
        carry__slot_store(&e->owner, conn);
    atomic_store_explicit(&e->turn, 1, memory_order_relaxed);
    carry__current_adopt(conn);
    errno = saved_errno;
}

/* A turn while a rare feature is on, or of bytes that may begin an HTTP
 * head. */
static __attribute__((noinline)) void carry__request_turn_rare(struct carry__fd *e, int fd,
                                                               carry_ctx *last,
                                                               const char *bytes, size_t len)
{
    if (last == NULL || last != atomic_load_explicit(&e->owner, memory_order_relaxed) ||
        !carry__request_renew(e, fd, last, bytes, len, true, carry__id_next()))
        carry__request_begin_new(e, fd, bytes, len);
}

void carry__request_read(struct carry__fd *e, int fd, ssize_t rc, const void *bytes, size_t cap)
{
    if (rc > 0) {
        /* One of several threads reading the fd at once takes the turn. */
        if (!atomic_load_explicit(&e->turn, memory_order_relaxed) ||
            !atomic_exchange_explicit(&e->turn, 0, memory_order_relaxed))
            return;
        size_t len = (size_t)rc < cap ? (size_t)rc : cap;
        carry_ctx *last = carry__current();
        uint64_t id;
        if (CARRY__UNLIKELY(atomic_load_explicit(&carry__rare, memory_order_relaxed) != 0) ||
            carry__http_maybe(bytes, len) ||
            !carry__id_peek(&id))
            carry__request_turn_rare(e, fd, last, bytes, len);
        else if (last == NULL || last != atomic_load_explicit(&e->owner, memory_order_relaxed) ||
                 !carry__request_renew(e, fd, last, bytes, len, false, id))
            carry__request_begin_new(e, fd, bytes, len);
    } else {
        carry__request_end(e, rc, cap);
    }
}
