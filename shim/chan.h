/*
 * Rule H, channels (chan.c): a pipe, eventfd or socketpair whose ends this
 * process made is a hand-off channel between its threads.  Each write
 * records the writer's context in the channel; a read makes current the
 * context of the oldest write it consumed, until the next dispatch point
 * or the end of the library callback it runs in.
 */
#ifndef CARRY_CHAN_H
#define CARRY_CHAN_H

#include <sys/types.h>

#include "common.h"
#include "fd.h"

enum {
    CARRY__CHAN_PIPE,
    CARRY__CHAN_EVENTFD,
    CARRY__CHAN_SOCKETPAIR,
    CARRY__CHAN_KINDS,
};

/* Kinds' flags beside them: an eventfd in semaphore mode (a read takes one
 * write), a socketpair of datagrams or packets (a read takes one message). */
#define CARRY__CHAN_ONE_PER_READ 0x10u

/* The ends fds[0] and fds[1] (fds[1] < 0 for an eventfd, its only end)
 * were made as a channel of kind (with its flags).  False when carry
 * cannot follow them (out of memory or range): they are no channel. */
bool carry__chan_made(unsigned kind, const int fds[2]);

/* A write of n bytes on fd (buf: the first of them, or NULL) is about to
 * run: its record, for carry__chan_wrote, or 0 when fd is no channel end
 * (or no reader of it is open in this process). */
uint64_t carry__chan_write(int fd, const void *buf, size_t n);

/* The write of record returned rc (errno as it set it): fewer bytes than
 * recorded (a partial or failed write) leave fewer to be read. */
void carry__chan_wrote(int fd, uint64_t record, ssize_t rc);

/* Whether e's fd is a channel end. */
static inline bool carry__chan_end(struct carry__fd *e)
{
    return atomic_load_explicit(&e->chan, memory_order_relaxed) != NULL;
}

/* A read on e's fd, a channel end, returned rc > 0 into bytes first (a
 * buffer of cap bytes, or NULL): the context of the oldest write it
 * consumed becomes current.  Leaves errno alone. */
void carry__chan_read(struct carry__fd *e, ssize_t rc, const void *bytes, size_t cap);

/* Several writers' contexts taken by one read (CARRY__IO_HANDOFF): I/O on
 * an fd that one of them owns makes it current. */
void carry__chan_batch_io(int fd);


/* fd's end of its channel goes (close, or a dup2 over it); newfd is a
 * duplicate of oldfd. */
void carry__chan_closed(int fd);
void carry__chan_dup(int oldfd, int newfd);

/* In a forked child, channels forget their records: the parent's writes
 * are not the child's to read. */
void carry__chan_atfork_prepare(void);
void carry__chan_atfork_parent(void);
void carry__chan_atfork_child(void);

#endif /* CARRY_CHAN_H */
