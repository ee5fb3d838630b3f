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

void carry__request_made_rare(int fd, carry_ctx *req, const char *bytes, size_t len)
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

void carry__request_begin_new(struct carry__fd *e, int fd, const char *bytes, size_t len)
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

void carry__request_end(struct carry__fd *e, ssize_t rc, size_t asked)
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

void carry__request_turn_rare(struct carry__fd *e, int fd, carry_ctx *last, const char *bytes,
                              size_t len)
{
    carry__request_turn(e, fd, last, bytes, len, true, 0);
}
