/*
 * Rule C, the connections: accept makes a context for each connection,
 * with the keys peer and local; connect marks an outbound fd as borrowed.
 */
#include "addr.h"
#include "conn.h"
#include "current.h"
#include "fd.h"
#include "log.h"
#include "request.h"
#include "stats.h"

/* Caches a listener's local address the first time it accepts, so that
 * later accepts need no getsockname (unless it listens on a wildcard). */
static void carry__listener_probe(struct carry__fd *listener, int listen_fd)
{
    if (atomic_exchange_explicit(&listener->probed, 1, memory_order_acq_rel))
        return;
    struct carry__sockaddr local = {.len = sizeof local.ss};
    if (carry__addr_local(listen_fd, &local.ss, &local.len) &&
        !carry__addr_wildcard((struct sockaddr *)&local.ss))
        carry__fd_cache_local(listener, &local);
}

bool carry__conn_accepted(int listen_fd, int fd, const struct sockaddr *peer, socklen_t peer_len,
                          bool requests)
{
    struct carry__fd *e = carry__fd_ensure(fd);
    carry_ctx *ctx = e ? carry__ctx_new_local() : NULL;
    if (ctx == NULL) { /* Out of memory: this connection runs with no context. */
        carry__dispatch();
        return false;
    }
    /* The local address: the listener's own, cached, unless it listens on
     * a wildcard address. */
    struct carry__fd *listener = carry__fd_ensure(listen_fd);
    if (listener != NULL)
        carry__listener_probe(listener, listen_fd);
    const struct carry__sockaddr *local =
        listener != NULL ? atomic_load_explicit(&listener->local, memory_order_acquire) : NULL;
    struct carry__sockaddr own;
    if (local == NULL) {
        own.len = sizeof own.ss;
        local = carry__addr_local(fd, &own.ss, &own.len) ? &own : NULL;
    }
    carry__ctx_keep_addresses(ctx, peer, peer_len, local);

    carry__fd_own(e, CARRY__FD_ACCEPTED, ctx);
    if (requests) {
        carry__slot_store(&e->conn, ctx);
        carry__request_arm(e);
    }
    carry__current_adopt(ctx);
    carry__count(&carry__stats.accepted);
    carry__debug(2, "accept fd %d on %d: context %016llx", fd, listen_fd,
                 (unsigned long long)ctx->id);
    return true;
}

bool carry__conn_connected(int fd)
{
    struct carry__fd *e = carry__fd_ensure(fd);
    if (e == NULL)
        return false;
    carry__fd_own(e, CARRY__FD_CONNECTED, carry__current());
    carry__count(&carry__stats.connected);
    return true;
}
