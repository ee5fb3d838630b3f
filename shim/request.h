/*
 * Rule R, the requests of a connection (request.c): turn-taking.  An
 * accepted connection's first read that returns data, and the first one
 * after the server wrote to it, begins a request context, which becomes
 * current and is what the fd delivers until the next one begins; a read
 * that returns end-of-file or an error gives the connection its own
 * context back.
 */
#ifndef CARRY_REQUEST_H
#define CARRY_REQUEST_H

#include <sys/types.h>

#include "common.h"
#include "context.h"
#include "current.h"
#include "fd.h"
#include "http.h"
#include "init.h"
#include "span.h"

/* An accepted connection's e is to take turns (at accept). */
static inline void carry__request_arm(struct carry__fd *e)
{
    atomic_store_explicit(&e->seq, 0, memory_order_relaxed);
    atomic_store_explicit(&e->turn, 1, memory_order_relaxed);
}

/* The server wrote to e's connection: its next read that returns data
 * begins a request.  The flag is stored only when it changes, so that a
 * stream of writes does not keep taking its cache line. */
static inline void carry__request_turn_over(struct carry__fd *e)
{
    if (!atomic_load_explicit(&e->turn, memory_order_relaxed))
        atomic_store_explicit(&e->turn, 1, memory_order_relaxed);
}

/* The server writes to e's fd in current (or none): the turn is over
 * when it is an accepted connection. */
static inline void carry__request_wrote(struct carry__fd *e, carry_ctx *current)
{
    if (atomic_load_explicit(&e->kind, memory_order_relaxed) != CARRY__FD_ACCEPTED)
        return;
    carry__request_turn_over(e);
    /* Rule O: a request's span ends at its last write. */
    if (current != NULL)
        carry__span_wrote(&current->trace);
}

/* The same for e, an accepted connection, where no span can end (export
 * is off): false, with nothing done, when one may. */
static inline bool carry__request_wrote_plain(struct carry__fd *e)
{
    if (carry__export_on())
        return false;
    carry__request_turn_over(e);
    return true;
}

/* The ways a turn goes that are not its common one (request.c), out of
 * line so that the common turn, inline in the read that takes it, keeps
 * no frame of its own. */

/* What a new request needs when a rare feature is on (carry__rare) or its
 * bytes may begin an HTTP head: its keys, its span's start, its counts. */
void carry__request_made_rare(int fd, carry_ctx *req, const char *bytes, size_t len);

/* A request of e's connection begins in a new context: without memory,
 * none (the fd delivers no context of its own, and the thread runs in
 * none). */
void carry__request_begin_new(struct carry__fd *e, int fd, const char *bytes, size_t len);

/* A turn while a rare feature is on, or of bytes that may begin an HTTP
 * head. */
void carry__request_turn_rare(struct carry__fd *e, int fd, carry_ctx *last, const char *bytes,
                              size_t len);

/* A read that asked for asked bytes returned rc, end-of-file or an error
 * (errno): unless it only found no data yet, or asked for none, the
 * connection's own context is current again, and what fd delivers. */
void carry__request_end(struct carry__fd *e, ssize_t rc, size_t asked);

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
 * taken here (carry__id_take) when not rare. */
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

/* A turn of e's connection, last current: its request renewed in place
 * when it is last, else a new one.  Not rare, id is the new id
 * (carry__id_peek); rare, the id is taken only for a renewal. */
static inline __attribute__((always_inline)) void
carry__request_turn(struct carry__fd *e, int fd, carry_ctx *last, const char *bytes, size_t len,
                    bool rare, uint64_t id)
{
    if (last == NULL || last != atomic_load_explicit(&e->owner, memory_order_relaxed) ||
        !carry__request_renew(e, fd, last, bytes, len, rare, rare ? carry__id_next() : id))
        carry__request_begin_new(e, fd, bytes, len);
}

/* A read on fd, an accepted connection (e), returned rc (> 0: data; errno
 * is the read's otherwise); bytes is the buffer it filled first, of cap
 * bytes (NULL: unknown), where a request's HTTP/1.x head is looked for.
 * With rc 0, cap is how many bytes the read asked for: 0 is a read of
 * nothing, no end of file.  Leaves errno alone.  Inline in the read's own
 * frame: the common turn, a request renewed in place, makes no call. */
static inline __attribute__((always_inline)) void
carry__request_read(struct carry__fd *e, int fd, ssize_t rc, const void *bytes, size_t cap)
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
        else
            carry__request_turn(e, fd, last, bytes, len, false, id);
    } else {
        carry__request_end(e, rc, cap);
    }
}

#endif /* CARRY_REQUEST_H */
