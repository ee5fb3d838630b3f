/*
 * Rule H, channels (chan.h).
 *
 * A channel has a queue per direction (one for a pipe or an eventfd, two
 * for a socketpair): a ring of records, each the context a write was made
 * in (a reference, or NULL for none) and what it put in: its bytes, or
 * for an eventfd the value it added to the count.  A write records before
 * its bytes go, so that no reader can see them first, and corrects the
 * record after a partial or failed write; a read takes records oldest
 * first until what it read is accounted for (the bytes of a pipe or a
 * stream socketpair, the count an eventfd read returned, 1 in semaphore
 * mode), or one record (a datagram socketpair).  A record whose write is
 * not in yet (made, its bytes not added) stays for a later read.
 * The ring is bounded: past CARRY__CHAN_RECORDS pending writes, the
 * oldest record is dropped (counted).  A queue's short critical sections
 * take its spin lock: no system call, no allocation per hand-off.
 *
 * Only writes somebody in this process can read are recorded: a pipe whose
 * read end went to a child (closed here) records nothing.
 */
#include <string.h>

#include "chan.h"
#include "current.h"
#include "fd.h"
#include "lock.h"
#include "log.h"
#include "pool.h"
#include "stats.h"
#include "watch.h"

#define CARRY__CHAN_RECORDS 128

_Static_assert(sizeof carry__stats.handoffs / sizeof carry__stats.handoffs[0] == CARRY__CHAN_KINDS,
               "a hand-off counter per channel kind");

struct carry__chan_record {
    carry_ctx *ctx;
    uint64_t amount; /* bytes, or an eventfd's value; 0: nothing went in */
};

struct carry__chan_queue {
    carry__spin lock;
    uint32_t readers;        /* fds that read this queue (dups included); under lock */
    uint64_t first, next;    /* record numbers: the oldest kept, the next to make */
    struct carry__chan_record at[CARRY__CHAN_RECORDS];
};

struct carry__chan {
    struct carry__chan_queue q[2];
    _Atomic uint32_t ends;   /* fds of this process on it, dups included */
    uint8_t kind;            /* CARRY__CHAN_PIPE, _EVENTFD or _SOCKETPAIR */
    bool one_per_read;       /* CARRY__CHAN_ONE_PER_READ was given */
    struct carry__chan *next_all, *prev_all; /* every live channel, for fork */
    struct carry__chan *link;                /* the pool's */
};

/* The contexts the thread's last merging read took, oldest first: only
 * compared with what fds own, so they hold no reference. */
#define CARRY__HANDOFF_MAX 16
static __thread carry_ctx *carry__handoff_batch[CARRY__HANDOFF_MAX]
    __attribute__((tls_model("initial-exec")));
static __thread unsigned carry__handoff_count __attribute__((tls_model("initial-exec")));

static struct carry__pool carry__chans =
    CARRY__POOL_INIT(struct carry__chan, link, 8, NULL, false, "channels");

static carry__spin carry__chans_lock;
static struct carry__chan *carry__chans_all;

/* An end: bit 0, the queue its writes fill; bit 1, the queue it reads;
 * bit 2, whether it reads at all (a pipe's write end does not). */
#define CARRY__END(write_q, read_q, reads) ((uint8_t)((write_q) | (read_q) << 1 | (reads) << 2))
#define CARRY__END_WRITES(end) ((end) & 1)
#define CARRY__END_READS(end) (((end) >> 1) & 1)
#define CARRY__END_READER 4u

static void carry__chan_link(struct carry__chan *c)
{
    carry__spin_lock(&carry__chans_lock);
    c->prev_all = NULL;
    c->next_all = carry__chans_all;
    if (carry__chans_all != NULL)
        carry__chans_all->prev_all = c;
    carry__chans_all = c;
    carry__spin_unlock(&carry__chans_lock);
}

static void carry__chan_unlink(struct carry__chan *c)
{
    carry__spin_lock(&carry__chans_lock);
    if (c->prev_all != NULL)
        c->prev_all->next_all = c->next_all;
    else
        carry__chans_all = c->next_all;
    if (c->next_all != NULL)
        c->next_all->prev_all = c->prev_all;
    carry__spin_unlock(&carry__chans_lock);
}

/* Lets go of every record of q; call with its lock held or alone. */
static void carry__queue_clear(struct carry__chan_queue *q)
{
    for (; q->first < q->next; q->first++) {
        carry_ctx *ctx = q->at[q->first % CARRY__CHAN_RECORDS].ctx;
        if (ctx != NULL)
            carry__ctx_unref(ctx);
    }
}

static void carry__end_attach(struct carry__fd *e, struct carry__chan *c, uint8_t end)
{
    if (end & CARRY__END_READER) {
        struct carry__chan_queue *rq = &c->q[CARRY__END_READS(end)];
        carry__spin_lock(&rq->lock);
        rq->readers++;
        carry__spin_unlock(&rq->lock);
    }
    atomic_fetch_add_explicit(&c->ends, 1, memory_order_relaxed);
    atomic_store_explicit(&e->chan_end, end, memory_order_relaxed);
    atomic_store_explicit(&e->chan, c, memory_order_release);
}

bool carry__chan_made(unsigned kind, const int fds[2])
{
    struct carry__fd *a = carry__fd_ensure(fds[0]);
    struct carry__fd *b = fds[1] >= 0 ? carry__fd_ensure(fds[1]) : NULL;
    if (a == NULL || (fds[1] >= 0 && b == NULL))
        return false;
    /* Numbers whose close carry missed start afresh. */
    carry__chan_closed(fds[0]);
    if (b != NULL)
        carry__chan_closed(fds[1]);
    struct carry__chan *c = carry__pool_take(&carry__chans);
    if (c == NULL)
        return false;
    for (int i = 0; i < 2; i++) {
        atomic_init(&c->q[i].lock, 0);
        c->q[i].readers = 0;
        c->q[i].first = c->q[i].next = 1;
    }
    atomic_init(&c->ends, 0);
    c->kind = (uint8_t)(kind & ~CARRY__CHAN_ONE_PER_READ);
    c->one_per_read = (kind & CARRY__CHAN_ONE_PER_READ) != 0;
    carry__chan_link(c);
    switch (c->kind) {
    case CARRY__CHAN_PIPE: /* fds[0] reads what fds[1] writes, through queue 0 */
        carry__end_attach(a, c, CARRY__END(0, 0, 1));
        carry__end_attach(b, c, CARRY__END(0, 0, 0));
        break;
    case CARRY__CHAN_EVENTFD:
        carry__end_attach(a, c, CARRY__END(0, 0, 1));
        break;
    default: /* a socketpair: each end reads what the other writes */
        carry__end_attach(a, c, CARRY__END(0, 1, 1));
        carry__end_attach(b, c, CARRY__END(1, 0, 1));
        break;
    }
    return true;
}

static struct carry__chan *carry__chan_of(int fd, uint8_t *end)
{
    struct carry__fd *e = carry__fd_get(fd);
    if (e == NULL)
        return NULL;
    struct carry__chan *c = atomic_load_explicit(&e->chan, memory_order_acquire);
    if (c != NULL)
        *end = atomic_load_explicit(&e->chan_end, memory_order_relaxed);
    return c;
}

/* What a write puts in: its bytes, or an eventfd's 8-byte value. */
static uint64_t carry__chan_amount(const struct carry__chan *c, const void *buf, size_t n)
{
    if (c->kind != CARRY__CHAN_EVENTFD)
        return n;
    uint64_t value = 0;
    if (buf != NULL && n == sizeof value)
        memcpy(&value, buf, sizeof value);
    return value;
}

uint64_t carry__chan_write(int fd, const void *buf, size_t n)
{
    uint8_t end;
    /* A write by a signal handler (a self-pipe) that interrupted carry's
     * own code, which may hold this channel's lock: no record. */
    if (carry__locks_busy())
        return 0;
    struct carry__chan *c = carry__chan_of(fd, &end);
    if (c == NULL || n == 0)
        return 0;
    uint64_t amount = carry__chan_amount(c, buf, n);
    if (amount == 0)
        return 0;
    struct carry__chan_queue *q = &c->q[CARRY__END_WRITES(end)];
    carry_ctx *ctx = carry__current();
    carry_ctx *dropped = NULL;
    uint64_t record = 0;
    carry__spin_lock(&q->lock);
    if (q->readers > 0) {
        if (q->next - q->first == CARRY__CHAN_RECORDS) {
            dropped = q->at[q->first % CARRY__CHAN_RECORDS].ctx;
            q->first++;
            carry__count(&carry__stats.handoffs_dropped);
        }
        if (ctx != NULL)
            carry__ctx_ref(ctx);
        record = q->next++;
        q->at[record % CARRY__CHAN_RECORDS] = (struct carry__chan_record){ctx, amount};
    }
    carry__spin_unlock(&q->lock);
    if (dropped != NULL)
        carry__ctx_unref(dropped);
    return record;
}

void carry__chan_wrote(int fd, uint64_t record, ssize_t rc)
{
    uint8_t end;
    struct carry__chan *c = carry__chan_of(fd, &end);
    if (c == NULL)
        return;
    struct carry__chan_queue *q = &c->q[CARRY__END_WRITES(end)];
    int saved_errno = errno;
    carry__spin_lock(&q->lock);
    /* Still pending (not read, dropped or forgotten at fork)? */
    if (record >= q->first && record < q->next) {
        struct carry__chan_record *r = &q->at[record % CARRY__CHAN_RECORDS];
        if (rc <= 0)
            r->amount = 0; /* an eventfd's write is all or nothing */
        else if ((uint64_t)rc < r->amount)
            r->amount = (uint64_t)rc;
    }
    carry__spin_unlock(&q->lock);
    errno = saved_errno;
}

void carry__chan_read(struct carry__fd *e, ssize_t rc, const void *bytes, size_t cap)
{
    struct carry__chan *c = atomic_load_explicit(&e->chan, memory_order_acquire);
    uint8_t end = atomic_load_explicit(&e->chan_end, memory_order_relaxed);
    /* A read by a signal handler that interrupted carry's own code: no
     * lock taken, no context switched under it. */
    if (c == NULL || rc <= 0 || !(end & CARRY__END_READER) || carry__locks_busy())
        return;
    struct carry__chan_queue *q = &c->q[CARRY__END_READS(end)];
    /* What the read took, to be accounted for by records: bytes, or an
     * eventfd's count (1 in semaphore mode); a datagram socketpair's read
     * takes one record, whatever its size. */
    uint64_t left = (uint64_t)rc;
    bool by_amount = true;
    if (c->kind == CARRY__CHAN_EVENTFD) {
        left = 1;
        if (!c->one_per_read && bytes != NULL && cap >= sizeof left &&
            rc == (ssize_t)sizeof left)
            memcpy(&left, bytes, sizeof left);
    } else if (c->one_per_read) {
        by_amount = false;
    }
    uint64_t merged = 0;
    carry_ctx *taken = NULL;
    bool any = false;
    unsigned batched = 0;
    carry__spin_lock(&q->lock);
    while (q->first < q->next && (!by_amount || left > 0)) {
        struct carry__chan_record *r = &q->at[q->first % CARRY__CHAN_RECORDS];
        uint64_t amount = r->amount;
        /* The rest of this write is still to be read (or not in yet): its
         * record stays. */
        bool partial = by_amount && amount > left;
        carry_ctx *let_go = partial ? NULL : r->ctx;
        if (amount != 0 && r->ctx != NULL && batched < CARRY__HANDOFF_MAX)
            carry__handoff_batch[batched++] = r->ctx;
        if (amount != 0 && !any) {
            any = true;
            taken = r->ctx;
            if (partial && taken != NULL)
                carry__ctx_ref(taken);
            let_go = NULL; /* the record's reference passes to the thread */
        } else if (amount != 0) {
            merged++;
        }
        if (let_go != NULL)
            carry__ctx_unref(let_go);
        if (partial) {
            r->amount -= left;
            break;
        }
        left -= by_amount ? amount : 0;
        q->first++;
        if (!by_amount && amount != 0)
            break;
    }
    carry__spin_unlock(&q->lock);
    if (!any)
        return; /* bytes nobody here recorded (another process's) */
    int saved_errno = errno;
    carry__count(&carry__stats.handoffs[c->kind]);
    if (merged != 0 && carry__counting())
        atomic_fetch_add_explicit(&carry__stats.handoffs_merged, merged, memory_order_relaxed);
    carry__current_adopt(carry__ctx_localize(taken));
    /* This hand-off replaces the thread's last one, batch or not. */
    carry__handoff_count = batched > 1 ? batched : 0;
    if (batched > 1)
        carry__io_batch |= CARRY__IO_HANDOFF;
    else
        carry__io_batch &= ~CARRY__IO_HANDOFF;
    errno = saved_errno;
}

void carry__chan_batch_io(int fd)
{
    struct carry__fd *e = carry__fd_get(fd);
    carry_ctx *owner = e ? atomic_load_explicit(&e->owner, memory_order_relaxed) : NULL;
    if (owner == NULL || owner == carry__current())
        return;
    unsigned n = carry__handoff_count;
    for (unsigned i = 0; i < n; i++)
        if (carry__handoff_batch[i] == owner) {
            int saved_errno = errno;
            carry__current_adopt(carry__slot_take_local(&e->owner));
            errno = saved_errno;
            return;
        }
}

void carry__chan_closed(int fd)
{
    struct carry__fd *e = carry__fd_peek(fd);
    if (e == NULL || atomic_load_explicit(&e->chan, memory_order_relaxed) == NULL)
        return;
    struct carry__chan *c = atomic_exchange_explicit(&e->chan, NULL, memory_order_acq_rel);
    if (c == NULL)
        return;
    uint8_t end = atomic_load_explicit(&e->chan_end, memory_order_relaxed);
    if (end & CARRY__END_READER) {
        struct carry__chan_queue *q = &c->q[CARRY__END_READS(end)];
        carry__spin_lock(&q->lock);
        /* The last reader gone: what is pending will never be read here. */
        if (--q->readers == 0)
            carry__queue_clear(q);
        carry__spin_unlock(&q->lock);
    }
    if (atomic_fetch_sub_explicit(&c->ends, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < 2; i++)
        carry__queue_clear(&c->q[i]);
    carry__chan_unlink(c);
    carry__pool_give(&carry__chans, c);
}

void carry__chan_dup(int oldfd, int newfd)
{
    uint8_t end;
    struct carry__chan *c = carry__chan_of(oldfd, &end);
    struct carry__fd *to = c != NULL ? carry__fd_ensure(newfd) : NULL;
    if (to != NULL)
        carry__end_attach(to, c, end);
}

void carry__chan_atfork_prepare(void)
{
    carry__spin_lock(&carry__chans_lock);
}

void carry__chan_atfork_parent(void)
{
    carry__spin_unlock(&carry__chans_lock);
}

void carry__chan_atfork_child(void)
{
    for (struct carry__chan *c = carry__chans_all; c != NULL; c = c->next_all)
        for (int i = 0; i < 2; i++) {
            atomic_store(&c->q[i].lock, 0);
            carry__queue_clear(&c->q[i]);
        }
    carry__spin_unlock(&carry__chans_lock);
}
