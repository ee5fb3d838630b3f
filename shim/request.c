/* Rule R, the requests of a connection (request.h). */
#include "current.h"
#include "log.h"
#include "request.h"
#include "stats.h"
#include "store.h"

/* The keys a request reads as its connection's: its store starts with
 * them, since a context has no room for a link to its parent. */
static const char *const carry__conn_keys[] = {"peer", "local"};

/* Key values, formatted without stdio: a request begins on every turn of
 * every connection. */
static void carry__hex16(char out[17], uint64_t v)
{
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = "0123456789abcdef"[v & 15];
    out[16] = '\0';
}

static void carry__decimal(char out[11], uint32_t v)
{
    char digits[10];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (int i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

static void carry__stats_request(uint32_t seq)
{
    atomic_fetch_add_explicit(&carry__stats.requests, 1, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&carry__stats.requests_max, memory_order_relaxed);
    while (seq > max && !atomic_compare_exchange_weak_explicit(&carry__stats.requests_max, &max,
                                                               seq, memory_order_relaxed,
                                                               memory_order_relaxed))
        ;
}

/* A request of e's connection begins: without memory, none (the fd
 * delivers no context of its own, and the thread runs in none). */
static void carry__request_begin(struct carry__fd *e, int fd)
{
    carry_ctx *conn = carry__slot_take_local(&e->conn);
    if (conn == NULL)
        return;
    carry_ctx *req = carry__ctx_new_local();
    if (req != NULL) {
        uint32_t seq = atomic_fetch_add_explicit(&e->seq, 1, memory_order_relaxed) + 1;
        char text[17];
        carry__hex16(text, conn->id);
        carry__store_set(&req->store, "conn", text);
        carry__decimal(text, seq);
        carry__store_set(&req->store, "seq", text);
        for (size_t i = 0; i < sizeof carry__conn_keys / sizeof carry__conn_keys[0]; i++) {
            const char *value = carry__store_get(&conn->store, carry__conn_keys[i]);
            if (value != NULL)
                carry__store_set(&req->store, carry__conn_keys[i], value);
        }
        if (carry__counting())
            carry__stats_request(seq);
        carry__debug(2, "request %u on fd %d: context %016llx", seq, fd,
                     (unsigned long long)req->id);
    }
    carry__slot_store(&e->owner, req);
    carry__current_adopt(req);
    carry__ctx_unref_local(conn);
}

/* The connection's own context is current again, and what fd delivers. */
static void carry__request_end(struct carry__fd *e)
{
    carry_ctx *conn = carry__slot_take_local(&e->conn);
    if (conn == NULL)
        return;
    if (atomic_load_explicit(&e->owner, memory_order_relaxed) != conn)
        carry__slot_store(&e->owner, conn);
    atomic_store_explicit(&e->turn, 1, memory_order_relaxed);
    carry__current_adopt(conn);
}

void carry__request_read(int fd, ssize_t rc)
{
    struct carry__fd *e = carry__fd_get(fd);
    if (e == NULL || atomic_load_explicit(&e->kind, memory_order_relaxed) != CARRY__FD_ACCEPTED)
        return;
    int saved_errno = errno;
    if (rc > 0) {
        /* One of several threads reading the fd at once takes the turn. */
        if (atomic_load_explicit(&e->turn, memory_order_relaxed) &&
            atomic_exchange_explicit(&e->turn, 0, memory_order_relaxed))
            carry__request_begin(e, fd);
    } else if (rc == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        carry__request_end(e);
    }
    errno = saved_errno;
}
