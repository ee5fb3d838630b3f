/*
 * Rule W outgoing (CARRY_TRACE=inject, inject.c): an HTTP/1.x request the
 * process writes in a context to a connection it opened (rule C's
 * borrowed fds) gets a "traceparent" header line, the context's trace and
 * span, right after its request line.  A head that carries a traceparent
 * already keeps it: untouched when it names another trace (the program
 * set it), its parent-id rewritten in place with the context's span-id
 * when it names the context's own trace (a proxy forwarding the header it
 * was sent).
 *
 * Where a request begins is turn-taking, the mirror of rule R: the first
 * write on the connection, and the first one after a read returned data
 * (the previous response), may begin one; no other write is looked at, so
 * a body is never touched.  Carry acts only when the whole head, through
 * its empty line, is in that write (in its first 4 KiB when it spans
 * several buffers); any other head goes out untouched.
 *
 * The program sees its own byte counts.  A partial write that stops
 * before or inside carry's bytes leaves them waiting, per fd, for the
 * next write (the rest of the program's bytes), as CARRY_TAG does with a
 * tag cut short.
 */
#ifndef CARRY_INJECT_H
#define CARRY_INJECT_H

#include <sys/types.h>
#include <sys/uio.h>

#include "calls.h"
#include "common.h"
#include "fd.h"

/* A connected fd's turn (fd.h), bit by bit: its next write may begin a
 * request; carry's bytes wait for its next write. */
enum { CARRY__INJECT_NEXT = 1u << 0, CARRY__INJECT_WAITING = 1u << 1 };

/* fd, whose entry is e, was connected: when it is a stream, its first
 * write may begin a request.  True when it was armed. */
bool carry__inject_connected(struct carry__fd *e, int fd);

/* Does the write about to be made on e's fd, in current, go through
 * carry__inject_writev?  One load for a write inside a request. */
static inline bool carry__inject_wants(const struct carry__fd *e, const carry_ctx *current)
{
    if (e == NULL || atomic_load_explicit(&e->kind, memory_order_relaxed) != CARRY__FD_CONNECTED)
        return false;
    unsigned turn = atomic_load_explicit(&e->turn, memory_order_relaxed);
    return (turn & CARRY__INJECT_WAITING) || ((turn & CARRY__INJECT_NEXT) && current != NULL);
}

/* A read on e's fd, a connected one, returned data: the next write may
 * begin a request.  Stored only when it changes. */
static inline void carry__inject_read(struct carry__fd *e)
{
    if (!(atomic_load_explicit(&e->turn, memory_order_relaxed) & CARRY__INJECT_NEXT))
        atomic_fetch_or_explicit(&e->turn, CARRY__INJECT_NEXT, memory_order_relaxed);
}

/* fd is closed: nothing waits for it any more. */
void carry__inject_closed(int fd);

/* The program's write of src (cnt buffers) to fd, which
 * carry__inject_wants accepted, made through out(call, ...).  addable:
 * carry may add bytes to this call (its flags and ancillary data allow
 * it); bytes left waiting go first in any case.  Returns what the
 * program's call returns for its own bytes, errno as it would set it. */
ssize_t carry__inject_writev(int fd, const struct iovec *src, int cnt, bool addable,
                             carry__sendv_fn *out, const void *call);

#endif /* CARRY_INJECT_H */
