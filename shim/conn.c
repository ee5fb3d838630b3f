/*
 * Rule C, the connections: accept makes a context for each connection,
 * with the keys peer and local; connect marks an outbound fd as borrowed.
 */
#include <string.h>

#include "addr.h"
#include "conn.h"
#include "current.h"
#include "fd.h"
#include "log.h"
#include "request.h"
#include "stats.h"
#include "store.h"

/* Adds "local" to ctx, a connection's context being made: the local
 * address of the connection accepted on listener, the listener's own,
 * cached, unless it listens on a wildcard address. */
static void carry__add_local(carry_ctx *ctx, struct carry__fd *listener, int fd)
{
    const char *cached = listener ? atomic_load_explicit(&listener->local, memory_order_acquire)
                                  : NULL;
    char buf[CARRY__ADDR_MAX];
    size_t len;
    if (cached != NULL) {
        len = strlen(cached);
    } else {
        struct sockaddr_storage ss;
        socklen_t ss_len = sizeof ss;
        if (!carry__addr_local(fd, &ss, &ss_len))
            return;
        len = carry__addr_format((struct sockaddr *)&ss, ss_len, buf);
        cached = buf;
    }
    if (len > 0)
        carry__ctx_add_unseen(ctx, "local", cached, len);
}

/* Caches a listener's local address the first time it accepts, so that
 * later accepts need no getsockname (unless it listens on a wildcard). */
static void carry__listener_probe(struct carry__fd *listener, int listen_fd)
{
    if (atomic_exchange_explicit(&listener->probed, 1, memory_order_acq_rel))
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!carry__addr_local(listen_fd, &ss, &len) ||
        carry__addr_wildcard((struct sockaddr *)&ss))
        return;
    char buf[CARRY__ADDR_MAX];
    carry__addr_format((struct sockaddr *)&ss, len, buf);
    carry__fd_cache_local(listener, buf);
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
    /* Out of memory, a key is missing. */
    char buf[CARRY__ADDR_MAX];
    size_t len = carry__addr_format(peer, peer_len, buf);
    if (len > 0)
        carry__ctx_add_unseen(ctx, "peer", buf, len);
    struct carry__fd *listener = carry__fd_ensure(listen_fd);
    if (listener != NULL)
        carry__listener_probe(listener, listen_fd);
    carry__add_local(ctx, listener, fd);

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
