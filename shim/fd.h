/*
 * Rule C: file descriptors that own a context (fd.c).  An accepted
 * connection owns the context made for it (conn.c); an outbound
 * (connected) fd is borrowed by the context that last wrote to it.
 * Ownership follows dup and ends at close.
 */
#ifndef CARRY_FD_H
#define CARRY_FD_H

#include "common.h"
#include "context.h"
#include "fdmap.h"

enum {
    CARRY__FD_NONE,
    CARRY__FD_ACCEPTED,  /* owns its connection's context */
    CARRY__FD_CONNECTED, /* borrowed by the context that last wrote to it */
    CARRY__FD_DATAGRAM,  /* an unconnected datagram socket: delivers its last datagram's (dgram.c) */
};

struct carry__chan;
struct carry__sockaddr;

struct carry__fd {
    /* What the fd delivers (holds a reference): a connection's current
     * request (rule R), else its own context; a borrower's. */
    carry__slot owner;
    carry__slot conn;      /* an accepted fd's connection context (holds a reference) */
    /* A listener's or datagram socket's local address, cached, pooled. */
    _Atomic(struct carry__sockaddr *) local;
    _Atomic uint32_t seq;  /* the requests begun on the connection (request.c) */
    _Atomic uint8_t kind;
    _Atomic uint8_t probed; /* a listener's or datagram socket's address was looked at */
    /* Accepted: the next read that returns data begins a request: set at
     * accept and by a write to the connection, cleared by that read
     * (request.c).  Connected, with CARRY_TRACE=inject: the mirror, bits
     * of inject.h (the next write may begin a request; carry's bytes wait
     * for the next write). */
    _Atomic uint8_t turn;
    /* A channel end (rule H, chan.c), apart from kind: which queue of
     * chan its writes fill (bit 0) and its reads take (bit 1). */
    _Atomic uint8_t chan_end;
    _Atomic(struct carry__chan *) chan;
};

extern struct carry__fdmap carry__fds;

static inline struct carry__fd *carry__fd_get(int fd)
{
    return carry__fdmap_get(&carry__fds, fd);
}

/* The same for a hot path: an fd carry never tracked may read as an
 * all-zero entry (kind CARRY__FD_NONE, no owner) instead of NULL. */
static inline struct carry__fd *carry__fd_peek(int fd)
{
    return carry__fdmap_peek(&carry__fds, fd, sizeof(struct carry__fd));
}

/* Has e never held anything (or nothing since its fd was last closed)?
 * Most fds a server closes are files carry never tracked. */
static inline bool carry__fd_blank(struct carry__fd *e)
{
    return atomic_load_explicit(&e->kind, memory_order_relaxed) == CARRY__FD_NONE &&
           atomic_load_explicit(&e->owner, memory_order_relaxed) == NULL &&
           atomic_load_explicit(&e->conn, memory_order_relaxed) == NULL &&
           atomic_load_explicit(&e->local, memory_order_relaxed) == NULL &&
           atomic_load_explicit(&e->chan, memory_order_relaxed) == NULL &&
           atomic_load_explicit(&e->turn, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&e->seq, memory_order_relaxed) == 0 &&
           atomic_load_explicit(&e->probed, memory_order_relaxed) == 0;
}

/* fd's entry, made if need be; NULL when out of memory or range. */
static inline struct carry__fd *carry__fd_ensure(int fd)
{
    return carry__fdmap_ensure(&carry__fds, fd);
}

/* The slot whose context work on fd runs in: what fd owns, when it owns
 * one (rule C), else fallback (what the work captured).  The one place
 * that rule is written: epoll events and library callbacks both ask. */
static inline carry__slot *carry__fd_slot_or(int fd, carry__slot *fallback)
{
    struct carry__fd *e = carry__fd_peek(fd);
    if (e != NULL && atomic_load_explicit(&e->owner, memory_order_relaxed) != NULL)
        return &e->owner;
    return fallback;
}

/* fd now owns ctx (taking a reference), as kind. */
void carry__fd_own(struct carry__fd *e, int kind, carry_ctx *ctx);

void carry__fd_wrote_slow(struct carry__fd *e, carry_ctx *current);

/* The thread, running in current, wrote to fd: a borrowed fd changes
 * hands. */
static inline void carry__fd_wrote(int fd, carry_ctx *current)
{
    struct carry__fd *e = carry__fd_peek(fd);
    if (e != NULL && atomic_load_explicit(&e->kind, memory_order_relaxed) == CARRY__FD_CONNECTED &&
        atomic_load_explicit(&e->owner, memory_order_relaxed) != current)
        carry__fd_wrote_slow(e, current);
}

/* Caches addr, a listener's or datagram socket's local address, in e,
 * unless it has one; without memory, e caches none. */
void carry__fd_cache_local(struct carry__fd *e, const struct carry__sockaddr *addr);

/* CARRY_STATS: I/O on fd counts as a mismatch when it is a connection
 * whose context is not current. */
void carry__fd_check_io(int fd);

/* Ownership ends (before the fd is closed, so that a racing accept that
 * reuses the number cannot have its new state wiped). */
void carry__fd_closed(int fd);

/* newfd is now a duplicate of oldfd. */
void carry__fd_dup(int oldfd, int newfd);

#endif /* CARRY_FD_H */
