/*
 * Rule C: file descriptors that own a context.  An accepted connection owns
 * the context made for it; an outbound (connected) fd is borrowed by the
 * context that last wrote to it.  Ownership follows dup and ends at close.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "internal.h"

struct carry__fdmap carry__fds = {.entry_size = sizeof(struct carry__fd)};
_Atomic bool carry__fds_borrowed;

carry_ctx *carry__ctx_take(_Atomic(carry_ctx *) *slot)
{
    for (;;) {
        carry_ctx *ctx = atomic_load_explicit(slot, memory_order_acquire);
        if (ctx == NULL)
            return NULL;
        /* Contexts are never given back to malloc, so this is safe even if
         * the slot let go of ctx meanwhile; a dead one has no references
         * and is not revived. */
        uint64_t refs = atomic_load_explicit(&ctx->refs, memory_order_relaxed);
        while ((refs & CARRY__REF_COUNTS) != 0 &&
               !atomic_compare_exchange_weak_explicit(&ctx->refs, &refs, refs + CARRY__REF_INTERNAL,
                                                      memory_order_acquire, memory_order_relaxed))
            ;
        if ((refs & CARRY__REF_COUNTS) == 0)
            continue;
        /* Still the slot's?  Then it is the context the slot holds now
         * (even if it died and was reused in between: the slot keeps it). */
        if (atomic_load_explicit(slot, memory_order_acquire) == ctx)
            return ctx;
        carry__ctx_unref(ctx);
    }
}

void carry__ctx_store(_Atomic(carry_ctx *) *slot, carry_ctx *ctx)
{
    if (ctx != NULL)
        carry__ctx_ref(ctx);
    carry_ctx *old = atomic_exchange_explicit(slot, ctx, memory_order_acq_rel);
    if (old != NULL)
        carry__ctx_unref(old);
}

/* Appends n in decimal at p; returns the end. */
static char *carry__put_decimal(char *p, unsigned n)
{
    char digits[10];
    size_t len = 0;
    do
        digits[len++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    while (len > 0)
        *p++ = digits[--len];
    return p;
}

/* "ip:port", "[ip6]:port", a socket path, "@abstract" or "unix", in buf of
 * CARRY__ADDR_MAX bytes.  Written by hand rather than with inet_ntop and
 * snprintf: every accept formats its peer, and stdio made that more than
 * half of the instructions carry adds to an accept. */
#define CARRY__ADDR_MAX 128
static void carry__format_addr(const struct sockaddr *sa, socklen_t len, char *buf)
{
    char *p = buf;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        const unsigned char *ip = (const unsigned char *)&in->sin_addr;
        for (int i = 0; i < 4; i++) {
            p = carry__put_decimal(p, ip[i]);
            *p++ = i < 3 ? '.' : ':';
        }
        p = carry__put_decimal(p, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        *p++ = '[';
        if (inet_ntop(AF_INET6, &in6->sin6_addr, p, INET6_ADDRSTRLEN) == NULL) {
            buf[0] = '\0';
            return;
        }
        p += strlen(p);
        *p++ = ']';
        *p++ = ':';
        p = carry__put_decimal(p, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t path = len > offsetof(struct sockaddr_un, sun_path)
                          ? (size_t)len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (path > sizeof un->sun_path)
            path = sizeof un->sun_path;
        if (path == 0) {
            memcpy(p, "unix", 4);
            p += 4;
        } else if (un->sun_path[0] == '\0') {
            *p++ = '@';
            memcpy(p, un->sun_path + 1, path - 1);
            p += path - 1;
        } else {
            size_t n = strnlen(un->sun_path, path);
            memcpy(p, un->sun_path, n);
            p += n;
        }
    }
    *p = '\0';
}

static bool carry__is_wildcard(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

/* Sets "local" to the local address of a connection accepted on
 * listener: the listener's own, cached, unless it listens on a wildcard
 * address. */
static void carry__set_local(carry_ctx *ctx, struct carry__fd *listener, int fd)
{
    const char *cached = listener ? atomic_load_explicit(&listener->local, memory_order_acquire)
                                  : NULL;
    char buf[CARRY__ADDR_MAX];
    if (cached == NULL) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
            return;
        carry__format_addr((struct sockaddr *)&ss, len, buf);
        cached = buf;
    }
    if (cached[0] != '\0')
        carry__store_set(ctx, "local", cached);
}

/* Caches a listener's local address the first time it accepts, so that
 * later accepts need no getsockname (unless it listens on a wildcard). */
static void carry__listener_probe(struct carry__fd *listener, int listen_fd)
{
    if (atomic_exchange_explicit(&listener->probed, 1, memory_order_acq_rel))
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0 ||
        carry__is_wildcard((struct sockaddr *)&ss))
        return;
    char buf[CARRY__ADDR_MAX];
    carry__format_addr((struct sockaddr *)&ss, len, buf);
    char *copy = strdup(buf);
    char *expected = NULL;
    if (copy != NULL && !atomic_compare_exchange_strong(&listener->local, &expected, copy))
        free(copy);
}

void carry__fd_accepted(int listen_fd, int fd, const struct sockaddr *peer, unsigned peer_len)
{
    int saved_errno = errno;
    struct carry__fd *e = carry__fdmap_ensure(&carry__fds, fd);
    carry_ctx *ctx = e ? carry__ctx_new_local() : NULL;
    if (ctx == NULL) { /* Out of memory: this connection runs with no context. */
        carry__dispatch();
        errno = saved_errno;
        return;
    }
    char buf[CARRY__ADDR_MAX];
    carry__format_addr(peer, peer_len, buf);
    if (buf[0] != '\0')
        carry__store_set(ctx, "peer", buf);
    struct carry__fd *listener = carry__fdmap_ensure(&carry__fds, listen_fd);
    if (listener != NULL)
        carry__listener_probe(listener, listen_fd);
    carry__set_local(ctx, listener, fd);

    atomic_store_explicit(&e->kind, CARRY__FD_ACCEPTED, memory_order_relaxed);
    carry__ctx_store(&e->owner, ctx);
    carry__adopt(ctx);
    carry__count(&carry__stats.accepted);
    carry__debug(2, "accept fd %d on %d: context %016llx", fd, listen_fd,
                 (unsigned long long)ctx->id);
    errno = saved_errno;
}

void carry__fd_connected(int fd)
{
    struct carry__fd *e = carry__fdmap_ensure(&carry__fds, fd);
    if (e == NULL)
        return;
    atomic_store_explicit(&e->kind, CARRY__FD_CONNECTED, memory_order_relaxed);
    carry__ctx_store(&e->owner, carry__current());
    atomic_store_explicit(&carry__fds_borrowed, true, memory_order_relaxed);
    carry__count(&carry__stats.connected);
}

void carry__stats_io(int fd)
{
    struct carry__fd *e = carry__fdmap_get(&carry__fds, fd);
    carry_ctx *current = carry__current();
    if (e == NULL || current == NULL ||
        atomic_load_explicit(&e->kind, memory_order_relaxed) != CARRY__FD_ACCEPTED)
        return;
    carry_ctx *owner = atomic_load_explicit(&e->owner, memory_order_relaxed);
    if (owner != NULL && owner != current)
        carry__count(&carry__stats.mismatches);
}

void carry__fd_wrote_slow(struct carry__fd *e, carry_ctx *current)
{
    carry__ctx_store(&e->owner, current);
}

void carry__fd_close(int fd)
{
    struct carry__fd *e = carry__fdmap_get(&carry__fds, fd);
    if (e == NULL)
        return;
    int saved_errno = errno;
    atomic_store_explicit(&e->kind, CARRY__FD_NONE, memory_order_relaxed);
    if (atomic_load_explicit(&e->owner, memory_order_relaxed) != NULL)
        carry__ctx_store(&e->owner, NULL);
    char *local = atomic_exchange_explicit(&e->local, NULL, memory_order_acq_rel);
    free(local);
    atomic_store_explicit(&e->probed, 0, memory_order_relaxed);
    if (atomic_load_explicit(&e->regs, memory_order_acquire) != 0)
        carry__ep_fd_closed(fd);
    struct carry__ep *ep = atomic_exchange_explicit(&e->ep, NULL, memory_order_acq_rel);
    if (ep != NULL)
        carry__ep_release(ep);
    errno = saved_errno;
}

void carry__fd_close_range(unsigned first, unsigned last)
{
    if (last >= CARRY__FDMAP_LIMIT)
        last = CARRY__FDMAP_LIMIT - 1;
    for (unsigned fd = first; fd <= last; fd++) {
        /* Skip whole pages carry never used. */
        if (fd % CARRY__FDMAP_PAGE == 0 && carry__fdmap_get(&carry__fds, (int)fd) == NULL) {
            fd += CARRY__FDMAP_PAGE - 1;
            continue;
        }
        carry__fd_close((int)fd);
    }
}

void carry__fd_dup(int oldfd, int newfd)
{
    struct carry__fd *from = carry__fdmap_get(&carry__fds, oldfd);
    if (from == NULL || atomic_load_explicit(&from->kind, memory_order_relaxed) == CARRY__FD_NONE)
        return;
    int saved_errno = errno;
    struct carry__fd *to = carry__fdmap_ensure(&carry__fds, newfd);
    if (to != NULL) {
        carry_ctx *owner = carry__ctx_take(&from->owner);
        atomic_store_explicit(&to->kind, atomic_load(&from->kind), memory_order_relaxed);
        carry__ctx_store(&to->owner, owner);
        if (owner != NULL)
            carry__ctx_unref(owner);
    }
    errno = saved_errno;
}
