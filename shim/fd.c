/* Rule C: file descriptors that own a context (fd.h). */
#include "addr.h"
#include "current.h"
#include "fd.h"
#include "pool.h"
#include "stats.h"

struct carry__fdmap carry__fds = {.entry_size = sizeof(struct carry__fd)};

/* A listener's cached local address comes from a pool, as everything else
 * carry keeps per fd: a listener costs no malloc either. */
union carry__local {
    union carry__local *next;
    struct carry__sockaddr addr;
};

static struct carry__pool carry__locals =
    CARRY__POOL_INIT(union carry__local, next, 16, NULL, false, "listener addresses");

void carry__fd_cache_local(struct carry__fd *e, const struct carry__sockaddr *addr)
{
    union carry__local *l = carry__pool_take(&carry__locals);
    if (l == NULL)
        return;
    l->addr = *addr;
    struct carry__sockaddr *expected = NULL;
    if (!atomic_compare_exchange_strong(&e->local, &expected, &l->addr))
        carry__pool_give(&carry__locals, l);
}

void carry__fd_own(struct carry__fd *e, int kind, carry_ctx *ctx)
{
    atomic_store_explicit(&e->kind, (uint8_t)kind, memory_order_relaxed);
    carry__slot_store(&e->owner, ctx);
}

void carry__fd_wrote_slow(struct carry__fd *e, carry_ctx *current)
{
    int saved_errno = errno;
    carry__slot_store(&e->owner, current);
    errno = saved_errno;
}

void carry__fd_check_io(int fd)
{
    struct carry__fd *e = carry__fd_get(fd);
    carry_ctx *current = carry__current();
    if (e == NULL || current == NULL ||
        atomic_load_explicit(&e->kind, memory_order_relaxed) != CARRY__FD_ACCEPTED)
        return;
    carry_ctx *owner = atomic_load_explicit(&e->owner, memory_order_relaxed);
    if (owner != NULL && owner != current)
        carry__count(&carry__stats.mismatches);
}

void carry__fd_closed(int fd)
{
    struct carry__fd *e = carry__fd_get(fd);
    if (e == NULL)
        return;
    atomic_store_explicit(&e->kind, CARRY__FD_NONE, memory_order_relaxed);
    atomic_store_explicit(&e->turn, 0, memory_order_relaxed);
    atomic_store_explicit(&e->seq, 0, memory_order_relaxed);
    if (atomic_load_explicit(&e->owner, memory_order_relaxed) != NULL)
        carry__slot_store(&e->owner, NULL);
    if (atomic_load_explicit(&e->conn, memory_order_relaxed) != NULL)
        carry__slot_store(&e->conn, NULL);
    struct carry__sockaddr *local =
        atomic_load_explicit(&e->local, memory_order_relaxed) != NULL
            ? atomic_exchange_explicit(&e->local, NULL, memory_order_acq_rel)
            : NULL;
    if (local != NULL)
        carry__pool_give(&carry__locals, (union carry__local *)local);
    atomic_store_explicit(&e->probed, 0, memory_order_relaxed);
}

void carry__fd_dup(int oldfd, int newfd)
{
    struct carry__fd *from = carry__fd_get(oldfd);
    if (from == NULL || atomic_load_explicit(&from->kind, memory_order_relaxed) == CARRY__FD_NONE)
        return;
    struct carry__fd *to = carry__fd_ensure(newfd);
    if (to != NULL) {
        carry_ctx *owner = carry__slot_take(&from->owner);
        carry__fd_own(to, atomic_load(&from->kind), owner);
        if (owner != NULL)
            carry__ctx_unref(owner);
        carry_ctx *conn = carry__slot_take(&from->conn);
        carry__slot_store(&to->conn, conn);
        if (conn != NULL)
            carry__ctx_unref(conn);
        atomic_store(&to->seq, atomic_load(&from->seq));
        atomic_store(&to->turn, atomic_load(&from->turn));
    }
}
