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
#include "fd.h"
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

/* A read on fd, an accepted connection (e), returned rc (> 0: data; errno
 * is the read's otherwise); bytes is the buffer it filled first, of cap
 * bytes (NULL: unknown), where a request's HTTP/1.x head is looked for.
 * With rc 0, cap is how many bytes the read asked for: 0 is a read of
 * nothing, no end of file.  Leaves errno alone. */
void carry__request_read(struct carry__fd *e, int fd, ssize_t rc, const void *bytes, size_t cap);

#endif /* CARRY_REQUEST_H */
