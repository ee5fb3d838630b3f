/*
 * Rule R on datagram sockets (dgram.c).  An IPv4 or IPv6 datagram socket
 * the process makes is marked at socket(); until it is connected (then it
 * is an outbound fd, conn.c), every datagram it receives begins a request
 * context with the keys peer and local, which becomes the thread's
 * current one and what the fd delivers until the next datagram.
 *
 * Each thread remembers the datagrams of its last receive (a batch: one
 * datagram, or the messages of one recvmmsg), so that a reply sent on the
 * same fd to a peer of the batch runs in that datagram's context, and a
 * library that calls back once per datagram (libuv) runs each callback in
 * its own.  The batch ends at the thread's next receive on a datagram
 * socket or its next dispatch point.
 */
#ifndef CARRY_DGRAM_H
#define CARRY_DGRAM_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "common.h"
#include "context.h"
#include "fd.h"

/* The datagrams of one receive a thread remembers; past it, messages of a
 * recvmmsg begin no context (counted in CARRY_STATS). */
#define CARRY__DGRAM_BATCH 64

/* Messages of one recvmmsg that carry gives an address buffer of its own
 * when the program passed none; past it, their peer is unknown. */
#define CARRY__DGRAM_LENT 8

/* fd's entry, when fd is an unconnected datagram socket; else NULL. */
static inline struct carry__fd *carry__dgram_fd(int fd)
{
    struct carry__fd *e = carry__fd_get(fd);
    return e != NULL && atomic_load_explicit(&e->kind, memory_order_relaxed) == CARRY__FD_DATAGRAM
               ? e
               : NULL;
}

/* socket() made fd, of domain and type: true when it is a datagram
 * socket carry now follows. */
bool carry__dgram_socket(int fd, int domain, int type);

/* The address buffers of the messages of one recvmsg or recvmmsg
 * (first, then every stride bytes; at most CARRY__DGRAM_BATCH of them
 * count): carry lends its own to those that have none, and gives the
 * program's fields back as they were after the call. */
struct carry__dgram_names {
    unsigned n;                                        /* messages that count */
    uint64_t lent;                                     /* bit i: message i has carry's */
    socklen_t room[CARRY__DGRAM_BATCH];                /* what message i's buffer holds */
    struct sockaddr_storage own[CARRY__DGRAM_LENT];
};

void carry__dgram_lend(struct carry__dgram_names *names, struct msghdr *first, size_t stride,
                       unsigned n);

/* The call returned: got messages (0 on failure) were received on e's
 * fd; each begins its context, the first current. */
void carry__dgram_took(struct carry__dgram_names *names, struct carry__fd *e, int fd,
                       struct msghdr *first, size_t stride, unsigned got);

/* One datagram was received on e's fd from peer (NULL: unknown, a read or
 * recv). */
void carry__dgram_received(struct carry__fd *e, int fd, const struct sockaddr *peer,
                           socklen_t len);

/* The thread sends on fd to to: a peer of its batch on that fd makes its
 * datagram's context current (the earliest not yet answered); true when
 * it is such a reply. */
bool carry__dgram_sending(int fd, const struct sockaddr *to, socklen_t len);

/* A library calls back for a datagram from peer: a thread reference to
 * its context (the batch's next, if it is from peer), or NULL. */
carry_ctx *carry__dgram_next(const struct sockaddr *peer);

/* A datagram of the thread's batch.  Its reference is in refs: the batch
 * is let go of at thread exit from a destructor that may run after the
 * thread stopped owning contexts. */
struct carry__dgram_entry {
    carry_ctx *ctx;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
    socklen_t len; /* of peer; 0: unknown */
    bool answered; /* a reply went to its peer */
};

struct carry__dgram_batch {
    struct carry__dgram_batch *link; /* in its pool */
    int fd;
    unsigned n;    /* datagrams */
    unsigned next; /* the next a library calls back for */
    struct carry__dgram_entry at[CARRY__DGRAM_BATCH];
};

extern __thread struct carry__dgram_batch *carry__dgram_mine
    __attribute__((tls_model("initial-exec")));

void carry__dgram_end_slow(struct carry__dgram_batch *b);

/* Has the thread a batch of datagrams to end (one load until it has had
 * one)? */
static inline bool carry__dgram_pending(void)
{
    struct carry__dgram_batch *b = carry__dgram_mine;
    return CARRY__UNLIKELY(b != NULL) && b->n != 0;
}

/* Rule D: the thread's batch ends. */
static inline void carry__dgram_end(void)
{
    if (carry__dgram_pending())
        carry__dgram_end_slow(carry__dgram_mine);
}

#endif /* CARRY_DGRAM_H */
