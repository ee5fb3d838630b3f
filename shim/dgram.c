/* Rule R on datagram sockets (dgram.h). */
#include <string.h>

#include "addr.h"
#include "current.h"
#include "dgram.h"
#include "epoll.h"
#include "log.h"
#include "pool.h"
#include "span.h"
#include "stats.h"

__thread struct carry__dgram_batch *carry__dgram_mine __attribute__((tls_model("initial-exec")));

static struct carry__pool carry__batches =
    CARRY__POOL_INIT(struct carry__dgram_batch, link, 4, NULL, false, "datagram batches");

bool carry__dgram_socket(int fd, int domain, int type)
{
    if ((domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_DGRAM)
        return false;
    struct carry__fd *e = carry__fd_ensure(fd);
    if (e == NULL)
        return false;
    /* A number whose close carry missed starts afresh. */
    carry__fd_closed(fd);
    atomic_store_explicit(&e->kind, CARRY__FD_DATAGRAM, memory_order_relaxed);
    return true;
}

void carry__dgram_end_slow(struct carry__dgram_batch *b)
{
    for (unsigned i = 0; i < b->n; i++)
        carry__ctx_unref(b->at[i].ctx);
    b->n = b->next = 0;
}

/* The thread ends (current.c runs this from its exit hook). */
static void carry__batch_exit(void)
{
    struct carry__dgram_batch *b = carry__dgram_mine;
    if (b == NULL)
        return;
    carry__dgram_end_slow(b);
    carry__dgram_mine = NULL;
    carry__pool_give(&carry__batches, b);
}

/* The thread's batch, emptied, for datagrams of fd; NULL when out of
 * memory.  A thread that cannot be told of its exit has none, rather
 * than hold its contexts forever. */
static struct carry__dgram_batch *carry__batch_for(int fd)
{
    struct carry__dgram_batch *b = carry__dgram_mine;
    if (b == NULL) {
        carry__current_at_exit(carry__batch_exit);
        if (!carry__self.exit_hook)
            carry__current_arm_exit();
        b = carry__self.exit_hook ? carry__pool_take(&carry__batches) : NULL;
        if (b == NULL)
            return NULL;
        b->n = b->next = 0;
        carry__dgram_mine = b;
    } else {
        carry__dgram_end(); /* the batch before, if the thread dispatched none since */
    }
    b->fd = fd;
    carry__ep_wait_unplain(); /* the thread's next wait ends the batch */
    return b;
}

/* The socket's local address, looked up at its first datagram (it is
 * bound by then) and cached: a socket bound to a wildcard address names
 * the wildcard, since each datagram's own destination costs a system
 * call to learn. */
static const struct carry__sockaddr *carry__dgram_local(struct carry__fd *e, int fd)
{
    if (!atomic_exchange_explicit(&e->probed, 1, memory_order_acq_rel)) {
        struct carry__sockaddr local;
        local.len = sizeof local.ss;
        if (carry__addr_local(fd, &local.ss, &local.len))
            carry__fd_cache_local(e, &local);
    }
    return atomic_load_explicit(&e->local, memory_order_acquire);
}

/* A datagram's context, as a thread reference, or NULL (out of memory). */
static carry_ctx *carry__dgram_context(const struct carry__sockaddr *local,
                                       const struct sockaddr *peer, socklen_t len)
{
    carry_ctx *ctx = carry__ctx_new_local();
    if (ctx == NULL)
        return NULL;
    carry__ctx_keep_addresses(ctx, peer, peer != NULL ? len : 0, local);
    carry__span_begin(&ctx->trace);
    carry__count(&carry__stats.datagrams);
    return ctx;
}

static void carry__batch_add(struct carry__dgram_batch *b, carry_ctx *ctx,
                             const struct sockaddr *peer, socklen_t len)
{
    struct carry__dgram_entry *entry = &b->at[b->n++];
    carry__ctx_ref(ctx);
    entry->ctx = ctx;
    entry->answered = false;
    entry->len = peer != NULL && len <= (socklen_t)sizeof entry->peer ? len : 0;
    if (entry->len != 0)
        memcpy(&entry->peer, peer, entry->len);
}

/* got datagrams were received on e's fd: message i's peer is the name of
 * the msghdr at first + i * stride, of at most room[i] bytes (room NULL:
 * its msg_namelen).  The first's context becomes current and what the fd
 * delivers; every context is the batch's. */
static void carry__dgram_begin(struct carry__fd *e, int fd, const struct msghdr *first,
                               size_t stride, unsigned got, const socklen_t *room)
{
    const struct carry__sockaddr *local = carry__dgram_local(e, fd);
    struct carry__dgram_batch *b = carry__batch_for(fd);
    unsigned n = got < CARRY__DGRAM_BATCH ? got : CARRY__DGRAM_BATCH;
    if (b == NULL && n > 1)
        n = 1;
    if (got > n && carry__counting())
        atomic_fetch_add_explicit(&carry__stats.datagrams_unbatched, got - n,
                                  memory_order_relaxed);
    carry_ctx *current = NULL;
    for (unsigned i = 0; i < n; i++) {
        const struct msghdr *m = (const void *)((const char *)first + i * stride);
        const struct sockaddr *peer = m->msg_name;
        socklen_t len = peer != NULL ? m->msg_namelen : 0;
        if (room != NULL && len > room[i])
            len = room[i];
        carry_ctx *ctx = carry__dgram_context(local, peer, len);
        if (ctx == NULL)
            break;
        if (b != NULL)
            carry__batch_add(b, ctx, peer, len);
        if (i == 0)
            current = ctx;
        else
            carry__ctx_unref_local(ctx);
    }
    carry__slot_store(&e->owner, current);
    carry__current_adopt(current);
    carry__debug(3, "datagrams on fd %d: %u", fd, got);
}

void carry__dgram_received(struct carry__fd *e, int fd, const struct sockaddr *peer,
                           socklen_t len)
{
    struct msghdr m = {.msg_name = (void *)peer, .msg_namelen = len};
    carry__dgram_begin(e, fd, &m, 0, 1, NULL);
}

static struct msghdr *carry__msg_at(struct msghdr *first, size_t stride, unsigned i)
{
    return (struct msghdr *)((char *)first + i * stride);
}

void carry__dgram_lend(struct carry__dgram_names *names, struct msghdr *first, size_t stride,
                       unsigned n)
{
    names->n = n < CARRY__DGRAM_BATCH ? n : CARRY__DGRAM_BATCH;
    names->lent = 0;
    unsigned lent = 0;
    for (unsigned i = 0; i < names->n; i++) {
        struct msghdr *m = carry__msg_at(first, stride, i);
        if (m->msg_name != NULL) {
            names->room[i] = m->msg_namelen;
        } else if (lent < CARRY__DGRAM_LENT) {
            /* The kernel leaves msg_namelen alone when msg_name is NULL:
             * room keeps the program's value to give back. */
            names->room[i] = m->msg_namelen;
            m->msg_name = &names->own[lent++];
            m->msg_namelen = sizeof names->own[0];
            names->lent |= 1ull << i;
        } else {
            names->room[i] = 0;
        }
    }
}

void carry__dgram_took(struct carry__dgram_names *names, struct carry__fd *e, int fd,
                       struct msghdr *first, size_t stride, unsigned got)
{
    socklen_t room[CARRY__DGRAM_BATCH];
    for (unsigned i = 0; i < names->n; i++)
        room[i] = names->lent & (1ull << i) ? (socklen_t)sizeof names->own[0] : names->room[i];
    if (got > 0)
        carry__dgram_begin(e, fd, first, stride, got < names->n ? got : names->n, room);
    for (unsigned i = 0; i < names->n; i++) {
        if (names->lent & (1ull << i)) {
            struct msghdr *m = carry__msg_at(first, stride, i);
            m->msg_name = NULL;
            m->msg_namelen = names->room[i];
        }
    }
}

bool carry__dgram_sending(int fd, const struct sockaddr *to, socklen_t len)
{
    struct carry__dgram_batch *b = carry__dgram_mine;
    if (b == NULL || b->n == 0 || b->fd != fd || to == NULL)
        return false;
    struct carry__dgram_entry *match = NULL;
    for (unsigned i = 0; i < b->n; i++) {
        struct carry__dgram_entry *entry = &b->at[i];
        if (entry->len != 0 && carry__addr_same(&entry->peer.sa, entry->len, to, len)) {
            match = entry;
            if (!entry->answered)
                break;
        }
    }
    if (match == NULL)
        return false;
    match->answered = true;
    if (match->ctx != carry__current())
        carry__current_switch(match->ctx);
    return true;
}

carry_ctx *carry__dgram_next(const struct sockaddr *peer)
{
    struct carry__dgram_batch *b = carry__dgram_mine;
    if (b == NULL || b->next >= b->n)
        return NULL;
    struct carry__dgram_entry *entry = &b->at[b->next];
    if (entry->len != 0 && !carry__addr_same(&entry->peer.sa, entry->len, peer, entry->len))
        return NULL;
    b->next++;
    carry__ctx_ref_local(entry->ctx);
    return entry->ctx;
}
