/*
 * Rules D and E: epoll.
 *
 * epoll_ctl registers carry's token in place of the caller's epoll_data:
 * the fd number and the registration's generation.  The registration keeps
 * the caller's data and the context current at ADD/MOD.  epoll_wait turns
 * tokens back into the caller's data and makes current the context the
 * event's fd owns (rule C), else the registration's.
 *
 * In split mode one event is handed out per return; the rest
 * of the batch waits in the thread's own queue and is handed out by its
 * next waits on that epoll fd, with no lock and no system call: code
 * between two returns runs in exactly one event's context, and the thread
 * holds its batch exactly as it would without carry.  When the thread waits
 * on another epoll fd or ends, what it still holds goes to the epoll fd's
 * shared queue, which every waiter drains before it asks the kernel, so no
 * event is lost or left behind.
 *
 * An event whose generation is no longer its registration's (the fd was
 * deleted, closed, or re-added since the kernel reported it) is dropped: a
 * reused fd number never delivers an old event or an old context.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "current.h"
#include "epoll.h"
#include "fd.h"
#include "fdmap.h"
#include "lock.h"
#include "log.h"
#include "pool.h"
#include "ring.h"
#include "stats.h"
#include "watch.h"

struct carry__reg {
    _Atomic uint64_t data;      /* the caller's epoll_data */
    _Atomic(carry_ctx *) ctx;   /* current at the last ADD/MOD; holds a reference */
    /* Live: the token the kernel reports its events with (carry__token),
     * so that one load and compare resolves an event.  Free: the last
     * generation with CARRY__REG_FREE for an fd; 0 if never used. */
    _Atomic uint64_t token;
    _Atomic uint64_t batch;     /* CARRY_EPOLL=batch: the batch that reported it */
};

struct carry__ep {
    struct carry__fdmap regs;   /* per registered fd */
    char *regs_flat;            /* regs' range, set before ep is published */
    struct carry__ep *next;     /* in carry__eps; the pool's link while free */
    carry__spin ctl_lock;       /* serialises epoll_ctl on this epoll fd */
    carry__spin queue_lock;
    _Atomic uint32_t queued;    /* queue.count, read without the lock */
    struct carry__ring queue;   /* events threads handed back (see below) */
};

struct carry__fdmap carry__ep_fds = {.entry_size = sizeof(struct carry__ep_fd)};

__thread uint64_t carry__io_batch __attribute__((tls_model("initial-exec")));

_Atomic uint32_t carry__ep_epoch;

/* Live epoll fds, walked when a registered fd is closed.  Dead ones go
 * back to the pool, never to malloc: a thread may still be waiting on a
 * closed one. */
static carry__spin carry__eps_lock;
static struct carry__ep *carry__eps;

static void carry__ep_init(void *obj)
{
    struct carry__ep *ep = obj;
    ep->regs.entry_size = sizeof(struct carry__reg);
}

static struct carry__pool carry__ep_pool =
    CARRY__POOL_INIT(struct carry__ep, next, 4, carry__ep_init, false, "epoll states");

/* A generation is never 0, and a free registration's token holds no fd. */
#define CARRY__REG_FREE UINT32_MAX

static inline uint64_t carry__token(int fd, uint32_t gen)
{
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

static inline bool carry__token_live(uint64_t token)
{
    return token != 0 && (uint32_t)token != CARRY__REG_FREE;
}

static inline bool carry__reg_live(struct carry__reg *reg, memory_order order)
{
    return carry__token_live(atomic_load_explicit(&reg->token, order));
}

/*
 * An epoll fd whose state carry could not have (its pool out of memory, or
 * no address space for its registrations) is untracked for its life: every
 * call on it goes to the kernel as the program made it and every event
 * comes back as the kernel gives it, with no context.  The decision is
 * made at its first ADD, before any registration of it holds a token, so
 * that tokens and the program's own data never share an epoll fd.
 */
static struct carry__ep carry__ep_untracked;

static struct carry__ep *carry__ep_tracked(struct carry__ep *ep)
{
    return ep == &carry__ep_untracked ? NULL : ep;
}

/* epfd's state, or NULL when it has none or is untracked: its calls then
 * pass through.  Inline: every wait looks it up. */
static inline struct carry__ep *carry__ep_find(int epfd)
{
    struct carry__ep_fd *e = carry__fdmap_peek(&carry__ep_fds, epfd, sizeof(struct carry__ep_fd));
    return e != NULL ? carry__ep_tracked(atomic_load_explicit(&e->ep, memory_order_acquire))
                     : NULL;
}

/* The same, made at epfd's first ADD. */
static struct carry__ep *carry__ep_made(int epfd)
{
    struct carry__ep_fd *e = carry__fdmap_ensure(&carry__ep_fds, epfd);
    if (e == NULL)
        return NULL;
    struct carry__ep *ep = atomic_load_explicit(&e->ep, memory_order_acquire);
    if (ep != NULL)
        return carry__ep_tracked(ep);
    ep = carry__pool_take(&carry__ep_pool);
    if (ep != NULL && !carry__fdmap_reserve(&ep->regs)) {
        carry__pool_give(&carry__ep_pool, ep);
        ep = NULL;
    }
    /* A state from the pool has its range already: a waiter of its last
     * epoll fd may still read the field. */
    if (ep != NULL && ep->regs_flat == NULL)
        ep->regs_flat = atomic_load_explicit(&ep->regs.flat, memory_order_relaxed);
    struct carry__ep *expected = NULL;
    if (!atomic_compare_exchange_strong(&e->ep, &expected, ep ? ep : &carry__ep_untracked)) {
        /* Another thread decided for this epoll fd first. */
        if (ep != NULL)
            carry__pool_give(&carry__ep_pool, ep);
        return carry__ep_tracked(expected);
    }
    if (ep == NULL) {
        carry__count(&carry__stats.lost_to_memory);
        return NULL;
    }
    carry__spin_lock(&carry__eps_lock);
    ep->next = carry__eps;
    carry__eps = ep;
    carry__spin_unlock(&carry__eps_lock);
    return ep;
}

/* Ends a live registration: the caller holds ep->ctl_lock or owns ep. */
static void carry__reg_end(struct carry__reg *reg, int fd)
{
    uint64_t token = atomic_load_explicit(&reg->token, memory_order_relaxed);
    atomic_store_explicit(&reg->token, token | CARRY__REG_FREE, memory_order_release);
    if (atomic_load_explicit(&reg->ctx, memory_order_relaxed) != NULL)
        carry__slot_store(&reg->ctx, NULL);
    struct carry__ep_fd *e = carry__fdmap_get(&carry__ep_fds, fd);
    if (e != NULL)
        atomic_fetch_sub_explicit(&e->regs, 1, memory_order_relaxed);
}

int carry__ep_ctl(int epfd, int op, int fd, struct epoll_event *event, carry__ctl_fn *real)
{
    if (!carry__fdmap_in_range(fd) ||
        !carry__fdmap_in_range(epfd) ||
        (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL) ||
        (op != EPOLL_CTL_DEL && event == NULL))
        return real(epfd, op, fd, event);
    struct carry__ep *ep = op == EPOLL_CTL_ADD ? carry__ep_made(epfd) : carry__ep_find(epfd);
    if (ep == NULL) /* not registered through carry, or untracked */
        return real(epfd, op, fd, event);
    /* A tracked epoll fd has its registrations' address space, and the fd
     * map holds its number, so fd's entries in both exist: registering
     * never fails for want of memory.  A live registration's page is in
     * use already; a new one's is marked so (ep_release walks those). */
    struct carry__reg *reg = carry__fdmap_peek(&ep->regs, fd, sizeof *reg);
    if (!carry__reg_live(reg, memory_order_relaxed))
        reg = carry__fdmap_ensure(&ep->regs, fd);

    /* Nothing below but the real call sets errno (see hooks.c). */
    carry__spin_lock(&ep->ctl_lock);
    uint64_t token = atomic_load_explicit(&reg->token, memory_order_relaxed);
    bool live = carry__token_live(token);
    int rc;
    if (op == EPOLL_CTL_DEL) {
        rc = real(epfd, op, fd, event);
        if (rc == 0 && live)
            carry__reg_end(reg, fd);
    } else {
        struct epoll_event ours = {.events = event->events};
        uint64_t old_data = atomic_load_explicit(&reg->data, memory_order_relaxed);
        /* Re-arming in the registration's own context is the common MOD:
         * it needs no reference counting. */
        carry_ctx *current = carry__current();
        carry__count_capture(CARRY__B_EPOLL, current);
        bool same = atomic_load_explicit(&reg->ctx, memory_order_relaxed) == current;
        carry_ctx *old_ctx = same ? NULL : carry__slot_take(&reg->ctx);
        /* A MOD can revive a registration too: close() of a dup ends carry's, but
         * the kernel's lives on while another fd holds the file, and its
         * owner re-adds it with ADD (EEXIST), then MOD, as libevent does. */
        bool fresh = !live;
        if (fresh) {
            uint32_t gen = (uint32_t)(token >> 32);
            token = carry__token(fd, gen == UINT32_MAX ? 1 : gen + 1);
        }
        /* Set before the kernel can report the fd, so that its first event
         * already finds them. */
        atomic_store_explicit(&reg->data, event->data.u64, memory_order_relaxed);
        if (!same)
            carry__slot_store(&reg->ctx, current);
        if (fresh)
            atomic_store_explicit(&reg->token, token, memory_order_release);
        ours.data.u64 = token;
        rc = real(epfd, op, fd, &ours);
        if (rc != 0) {
            atomic_store_explicit(&reg->data, old_data, memory_order_relaxed);
            if (!same)
                carry__slot_store(&reg->ctx, old_ctx);
            if (fresh)
                atomic_store_explicit(&reg->token, token | CARRY__REG_FREE, memory_order_release);
        } else if (fresh) {
            struct carry__ep_fd *entry = carry__fdmap_ensure(&carry__ep_fds, fd);
            atomic_fetch_add_explicit(&entry->regs, 1, memory_order_relaxed);
        }
        if (old_ctx != NULL)
            carry__ctx_unref(old_ctx);
    }
    carry__spin_unlock(&ep->ctl_lock);
    return rc;
}

/* If ev's token still names a live registration, gives ev back the caller's
 * data and returns the registration. */
static inline __attribute__((always_inline)) struct carry__reg *
carry__ep_resolve(struct carry__ep *ep, struct epoll_event *ev, int *fd)
{
    uint64_t token = ev->data.u64;
    *fd = (int)(uint32_t)token;
    if (!carry__fdmap_in_range(*fd))
        return NULL;
    struct carry__reg *reg = carry__fdmap_at(ep->regs_flat, *fd, sizeof(struct carry__reg));
    if (atomic_load_explicit(&reg->token, memory_order_acquire) != token)
        return NULL;
    ev->data.u64 = atomic_load_explicit(&reg->data, memory_order_relaxed);
    return reg;
}

/* Pops events until one still resolves; its registration, or NULL. */
static inline struct carry__reg *carry__ring_pop_live(struct carry__ring *ring, struct carry__ep *ep,
                                               struct epoll_event *out, int *fd)
{
    while (carry__ring_pop(ring, out)) {
        struct carry__reg *reg = carry__ep_resolve(ep, out, fd);
        if (reg != NULL)
            return reg;
    }
    return NULL;
}

/* Appends n events to ep's shared queue; allocates only outside the lock
 * (see context.c).  False when out of memory. */
static bool carry__ep_share(struct carry__ep *ep, const struct epoll_event *events, uint32_t n)
{
    struct epoll_event *spare = NULL;
    uint32_t spare_cap = 0;
    for (;;) {
        carry__spin_lock(&ep->queue_lock);
        bool room = carry__ring_reserve(&ep->queue, n, &spare, spare_cap);
        if (room) {
            carry__ring_push(&ep->queue, events, n);
            atomic_store_explicit(&ep->queued, ep->queue.count, memory_order_relaxed);
        }
        uint32_t need = ep->queue.count + n;
        carry__spin_unlock(&ep->queue_lock);
        free(spare);
        if (room)
            return true;
        spare_cap = carry__ring_cap_for(need);
        spare = malloc(spare_cap * sizeof *spare);
        if (spare == NULL)
            return false;
    }
}

/* The thread's queued events go back to their epoll fd's shared queue. */
static void carry__ep_hand_back(struct carry__thread *self)
{
    struct carry__ring *ring = &self->queue;
    uint32_t first = ring->cap - ring->head < ring->count ? ring->cap - ring->head : ring->count;
    if (!carry__ep_share(self->queue_ep, ring->slots + ring->head, first) ||
        !carry__ep_share(self->queue_ep, ring->slots, ring->count - first))
        carry__warn("out of memory: %u epoll events lost", ring->count);
    carry__ring_clear(ring);
}

/* The thread ends (current.c runs this from its exit hook). */
static void carry__ep_thread_exit(void)
{
    struct carry__thread *self = &carry__self;
    int saved_errno = errno;
    if (self->nested_in != NULL) {
        carry_ctx *handler = self->nested_in;
        self->nested_in = NULL;
        carry__ctx_unref_local(handler);
    }
    if (self->queue.count > 0)
        carry__ep_hand_back(self);
    free(self->queue.slots);
    self->queue = (struct carry__ring){0};
    errno = saved_errno;
}

/* Keeps n events as the rest of the thread's batch from ep.  False when
 * out of memory. */
static bool carry__ep_queue_mine(struct carry__thread *self, struct carry__ep *ep,
                                 const struct epoll_event *events, uint32_t n)
{
    struct carry__ring *ring = &self->queue;
    if (ring->count + n > ring->cap) {
        uint32_t cap = carry__ring_cap_for(ring->count + n);
        struct epoll_event *spare = malloc(cap * sizeof *spare);
        bool room = carry__ring_reserve(ring, n, &spare, cap);
        free(spare);
        if (!room) {
            carry__count(&carry__stats.lost_to_memory);
            return false;
        }
        if (!self->exit_hook) { /* its events must not die with it */
            carry__current_at_exit(carry__ep_thread_exit);
            carry__current_arm_exit();
        }
    }
    carry__ring_push(ring, events, n);
    self->queue_ep = ep;
    carry__ep_wait_unplain(); /* its next waits hand them out */
    return true;
}

/* The next queued event of ep that is still live: the thread's own first,
 * then those other threads handed back. */
static struct carry__reg *carry__ep_next_queued(struct carry__thread *self, struct carry__ep *ep,
                                                struct epoll_event *out, int *fd)
{
    struct carry__reg *reg = NULL;
    if (self->queue.count > 0)
        reg = carry__ring_pop_live(&self->queue, ep, out, fd);
    if (reg == NULL && atomic_load_explicit(&ep->queued, memory_order_relaxed) > 0) {
        carry__spin_lock(&ep->queue_lock);
        reg = carry__ring_pop_live(&ep->queue, ep, out, fd);
        atomic_store_explicit(&ep->queued, ep->queue.count, memory_order_relaxed);
        carry__spin_unlock(&ep->queue_lock);
    }
    return reg;
}

/* Resolves events[from..n) in place behind the kept events[0..kept),
 * dropping stale ones, and with stamp stamps their registrations with
 * batch; returns how many events are kept in all.  Until one is stale
 * (most batches have none), nothing moves. */
static inline __attribute__((always_inline)) int
carry__ep_resolve_rest(struct carry__ep *ep, struct epoll_event *events, int kept, int from, int n,
                       bool stamp, uint64_t batch)
{
    struct epoll_event *ev = events + from, *end = events + n, *out = events + kept;
    int fd;
    if (out == ev) {
        for (; ev < end; ev++) {
            struct carry__reg *reg = carry__ep_resolve(ep, ev, &fd);
            if (CARRY__UNLIKELY(reg == NULL))
                break;
            if (stamp)
                atomic_store_explicit(&reg->batch, batch, memory_order_relaxed);
        }
        out = ev;
    }
    for (; ev < end; ev++) {
        struct carry__reg *reg = carry__ep_resolve(ep, ev, &fd);
        if (reg == NULL)
            continue;
        if (stamp)
            atomic_store_explicit(&reg->batch, batch, memory_order_relaxed);
        *out++ = *ev;
    }
    return (int)(out - events);
}

/* Resolves events[0..n) in place, dropping stale ones; returns how many
 * are left. */
static int carry__ep_resolve_all(struct carry__ep *ep, struct epoll_event *events, int n)
{
    return carry__ep_resolve_rest(ep, events, 0, 0, n, false, 0);
}

/* The context an event of fd runs in: what fd owns now, else what the
 * registration was bound to.  prev is the context the thread left, which
 * it still holds: returned as it is when it is the one, with no atomics. */
static inline __attribute__((always_inline)) carry_ctx *
carry__ep_context(int fd, struct carry__reg *reg, carry_ctx **prev)
{
    carry__slot *slot = carry__fd_slot_or(fd, &reg->ctx);
    if (atomic_load_explicit(slot, memory_order_relaxed) == *prev && *prev != NULL) {
        carry_ctx *same = *prev;
        *prev = NULL;
        carry__count_dispatch(CARRY__B_EPOLL, same);
        return same;
    }
    carry_ctx *ctx = carry__slot_take_local(slot);
    carry__count_dispatch(CARRY__B_EPOLL, ctx);
    return ctx;
}

/* CARRY_EPOLL=batch: every event at once.  The first event's context is
 * current at the return, so a batch of one is exact.  Every event of a
 * larger batch is stamped with the batch, and the thread's I/O on a
 * stamped fd, until its next wait, switches to that event's context
 * (carry__ep_batch_io).  Approximate: code of a later event that runs
 * before its first I/O runs in the context of the event handled before.
 * Flattened: this loop is the per-event cost of batch mode, and the
 * resolve of each event inlined in it costs a third less. */
static __attribute__((flatten)) int carry__ep_hand_out_batch(struct carry__ep *ep,
                                                             struct epoll_event *events, int n,
                                                             carry_ctx **next, carry_ctx **prev)
{
    static _Atomic uint64_t batches;
    struct carry__thread *self = &carry__self;
    int kept = 0, i = 0, fd;
    if (n == 1) {
        /* A single event is no batch: the thread's I/O switches on
         * nothing until its next wait, so the registration keeps the
         * stamp of the last batch that reported it (which only a nested
         * wait's return to that batch makes current again). */
        struct carry__reg *reg = carry__ep_resolve(ep, events, &fd);
        if (reg == NULL)
            return 0;
        *next = carry__ep_context(fd, reg, prev);
        return 1;
    }
    uint64_t batch = atomic_fetch_add_explicit(&batches, 1, memory_order_relaxed) + 1;
    for (; i < n && kept == 0; i++) {
        struct carry__reg *reg = carry__ep_resolve(ep, &events[i], &fd);
        if (reg == NULL)
            continue;
        *next = carry__ep_context(fd, reg, prev);
        atomic_store_explicit(&reg->batch, batch, memory_order_relaxed);
        events[kept++] = events[i];
    }
    kept = carry__ep_resolve_rest(ep, events, kept, i, n, true, batch);
    if (kept > 1) {
        carry__io_batch = batch;
        self->batch_ep = ep;
    }
    return kept;
}

/* Makes the context of fd's event current.  Apart from
 * carry__ep_batch_io, so that the I/O that switches nothing saves no
 * registers; errno needs no saving, since taking and letting go of
 * contexts makes no system call (see hooks.c). */
static __attribute__((noinline)) void carry__ep_batch_switch(int fd, struct carry__reg *reg)
{
    carry_ctx *ctx = carry__slot_take_local(carry__fd_slot_or(fd, &reg->ctx));
    carry__count_dispatch(CARRY__B_EPOLL, ctx);
    carry__current_adopt(ctx);
}

/*
 * I/O on fd by a thread whose last wait returned a batch.  Only fds whose
 * event is in that batch switch: I/O on any other fd (a broadcast to
 * connections that sent nothing, a log file) stays in the context current,
 * as it would in split mode.
 *
 * An accepted connection owns its context (rule C): every read and write
 * on it switches there, so that the replies a program writes after the
 * whole batch (redis's beforeSleep) run each in its own connection's
 * context.  Any other fd (a borrowed one, a pipe) owns none to come back
 * to: its event's context is the one its first read finds (the fd's
 * borrower, else the registration's), and later I/O on it, in whatever
 * context the program has moved on to, must not drag the thread back.  A
 * write never switches to such an fd's context: a handler that writes its
 * query to a pooled upstream fd, whose reply to another request is in the
 * batch, stays in its own request and lends the fd to it (fd.h).
 */
void carry__ep_batch_io(int fd, bool write)
{
    struct carry__thread *self = &carry__self;
    struct carry__reg *reg = carry__fdmap_peek(&self->batch_ep->regs, fd, sizeof(struct carry__reg));
    if (reg == NULL || atomic_load_explicit(&reg->batch, memory_order_relaxed) !=
                           (carry__io_batch & ~CARRY__IO_HANDOFF))
        return;
    /* Its registration ended since (deleted, or closed: the number may be
     * another file's now). */
    if (!carry__reg_live(reg, memory_order_relaxed))
        return;
    struct carry__fd *e = carry__fd_peek(fd);
    if (e != NULL && atomic_load_explicit(&e->kind, memory_order_relaxed) == CARRY__FD_ACCEPTED) {
        if (atomic_load_explicit(&e->owner, memory_order_relaxed) == self->current)
            return;
    } else {
        atomic_store_explicit(&reg->batch, 0, memory_order_relaxed);
        if (write)
            return;
    }
    carry__ep_batch_switch(fd, reg);
}

/*
 * Nested dispatch.  A handler that runs an event loop before it returns
 * (redis runs its loop from inside a busy script, to serve SCRIPT KILL)
 * waits deeper on the stack than the wait that dispatched it; the loop's
 * next iteration waits at the same depth again.  So a wait entered deeper
 * than the thread's last wait, with a context current, is nested in that
 * context's handler: the thread keeps the handler's context aside
 * (prev's reference moves there) while the nested waits hand out their
 * own events' contexts, and a nested wait that hands out no event (the
 * empty poll that ends a nested loop, a timeout, EINTR) gives the thread
 * the handler's context back, and the batch it was handled in (the program
 * goes on with the batch's other events).  The first wait at or above the
 * depth of the wait that dispatched the handler is the outer loop's: the
 * handler has returned, and its context ends there (rule D).  One level is kept: a
 * wait nested in a nested handler is an ordinary dispatch.
 */
/* How much deeper a nested wait may be: more apart, the two waits are on
 * different stacks (coroutines, swapcontext), whose depths say nothing. */
#define CARRY__NEST_SPAN (1u << 20)

static void carry__ep_nest(struct carry__thread *self, uintptr_t depth, carry_ctx **prev,
                           uint64_t batch)
{
    if (self->nested_in != NULL) {
        if (depth < self->nested_depth)
            return;
        carry_ctx *handler = self->nested_in;
        self->nested_in = NULL;
        carry__ctx_unref_local(handler);
    } else if (*prev != NULL && depth < self->wait_depth &&
               self->wait_depth - depth < CARRY__NEST_SPAN) {
        self->nested_in = *prev;
        carry__ep_wait_unplain();
        self->nested_depth = self->wait_depth;
        self->nested_batch = batch;
        self->nested_batch_ep = self->batch_ep;
        *prev = NULL;
        carry__current_at_exit(carry__ep_thread_exit);
    }
}

/* The thread's context after a wait: next, with the thread reference the
 * caller took (what is current then is released: none, unless a signal
 * handler entered a context during the wait); prev, the context it left,
 * is let go of.  Neither makes a system call (see hooks.c): errno stays. */
static inline void carry__ep_wait_done(carry_ctx *next, carry_ctx *prev)
{
    carry__current_adopt(next);
    if (prev != NULL)
        carry__ctx_unref_local(prev);
}

/*
 * The rest of a wait, once the thread has left prev (its context before
 * the wait, still held): when waited, the real wait has returned n with
 * errno err; otherwise the thread's queued events come first, then the
 * real wait.  Hands out events (rule E), waits again while every event
 * was stale and the caller waits forever, and ends the wait (rule D).
 */
static __attribute__((noinline)) int
carry__ep_wait_rest(struct carry__thread *self, struct carry__ep *ep, int epfd,
                    struct epoll_event *events, int maxevents, int timeout, carry__wait_fn *real,
                    carry_ctx *prev, uintptr_t depth, bool waited, int n, int err)
{
    carry_ctx *next = NULL;
    for (;; waited = false) {
        int fd;
        struct carry__reg *reg;
        if (!waited) {
            if (ep != NULL && (reg = carry__ep_next_queued(self, ep, events, &fd)) != NULL) {
                n = 1;
                next = carry__ep_context(fd, reg, &prev);
                break;
            }
            n = real(epfd, events, maxevents, timeout);
            err = errno;
        }
        if (ep == NULL || n <= 0)
            break;
        if (carry__config.epoll_batch) {
            n = carry__ep_hand_out_batch(ep, events, n, &next, &prev);
        } else {
            /* The first live event is handed out; the rest stay tokens in
             * the thread's queue, resolved when their turn comes. */
            int first = 0;
            while (first < n && (reg = carry__ep_resolve(ep, &events[first], &fd)) == NULL)
                first++;
            if (first + 1 < n &&
                !carry__ep_queue_mine(self, ep, events + first + 1, (uint32_t)(n - first - 1))) {
                /* Out of memory: hand out the whole batch, with no context. */
                events[0] = events[first];
                n = 1 + carry__ep_resolve_all(ep, events + first + 1, n - first - 1);
                memmove(events + 1, events + first + 1, (size_t)(n - 1) * sizeof *events);
                break;
            }
            if (first < n) {
                events[0] = events[first];
                n = 1;
                next = carry__ep_context(fd, reg, &prev);
                break;
            }
            n = 0;
        }
        /* Every event was stale.  A caller that waits forever waits on; one
         * with a timeout sees an early return, as after a spurious wake-up. */
        if (n > 0 || timeout >= 0)
            break;
    }
    self->wait_depth = depth;
    if (n <= 0 && self->nested_in != NULL) {
        /* The handler, and the rest of the batch it was handled in. */
        carry__ctx_ref_local(next = self->nested_in);
        carry__io_batch = self->nested_batch;
        self->batch_ep = self->nested_batch_ep;
    }
    carry__ep_wait_done(next, prev);
    errno = err;
    return n;
}

/* The ways a plain wait takes (epoll.h): carry__ep_wait_own's in batch
 * mode or in split mode, or carry__ep_wait_in_loop's. */
enum { CARRY__PLAIN_BATCH, CARRY__PLAIN_SPLIT, CARRY__PLAIN_LOOP };

/* Remembers epfd's state ep for the thread's next wait, plain when nothing
 * makes it otherwise (epoll.h). */
static inline void carry__ep_wait_remember(struct carry__thread *self, int epfd,
                                           struct carry__ep *ep, uint32_t epoch, uint8_t way)
{
    self->plain_ep = ep;
    self->plain_epoch = epoch;
    self->plain_way = way;
    self->plain_epfd = (unsigned)epfd + 1;
}

int carry__ep_wait_in_loop(int epfd, struct epoll_event *events, int maxevents, int timeout,
                           carry__wait_fn *real)
{
    carry__ctx_drain();
    uint32_t epoch = atomic_load_explicit(&carry__ep_epoch, memory_order_relaxed);
    struct carry__ep *ep = maxevents > 0 && events != NULL ? carry__ep_find(epfd) : NULL;
    if (ep != NULL)
        carry__ep_wait_remember(&carry__self, epfd, ep, epoch, CARRY__PLAIN_LOOP);
    int n = real(epfd, events, maxevents, timeout);
    /* Translating tokens makes no system call: errno stays the wait's. */
    if (ep != NULL && n > 0)
        n = carry__ep_resolve_all(ep, events, n);
    return n;
}

/* A wait at depth hands out fd's event, of registration reg: the thread
 * takes the event's context and lets go of prev, the one it left. */
static inline __attribute__((always_inline)) int
carry__ep_wait_one(struct carry__thread *self, int fd, struct carry__reg *reg, carry_ctx *prev,
                   uintptr_t depth)
{
    self->wait_depth = depth;
    carry_ctx *next = carry__ep_context(fd, reg, &prev);
    carry__ep_wait_done(next, prev);
    return 1;
}

/* The real wait of a thread that left prev, with nothing queued, nested
 * or batched before it: most often one event back, which leaves errno as
 * the wait did. */
static inline __attribute__((always_inline)) int
carry__ep_wait_real(struct carry__thread *self, struct carry__ep *ep, int epfd,
                    struct epoll_event *events, int maxevents, int timeout, carry__wait_fn *real,
                    carry_ctx *prev, uintptr_t depth)
{
    int fd;
    struct carry__reg *reg;
    int n = real(epfd, events, maxevents, timeout);
    if (CARRY__LIKELY(n == 1 && (reg = carry__ep_resolve(ep, events, &fd)) != NULL))
        return carry__ep_wait_one(self, fd, reg, prev, depth);
    return carry__ep_wait_rest(self, ep, epfd, events, maxevents, timeout, real, prev, depth, true,
                               n, errno);
}

int carry__ep_wait_own(int epfd, struct epoll_event *events, int maxevents, int timeout,
                       carry__wait_fn *real, uintptr_t depth)
{
    /* Before it may block: contexts this thread owns and others let go of
     * die now, not after the wait. */
    carry__ctx_drain();
    struct carry__thread *self = &carry__self;
    uint32_t epoch = atomic_load_explicit(&carry__ep_epoch, memory_order_relaxed);
    struct carry__ep *ep = maxevents > 0 && events != NULL ? carry__ep_find(epfd) : NULL;

    /* Rule D: the thread is back in its loop and leaves its context.  The
     * reference stays in prev until the next context is known, so that the
     * common case of two events of one connection costs no atomics. */
    carry_ctx *prev = self->current;
    carry__current_set(self, NULL);
    int fd;
    struct carry__reg *reg;
    if (CARRY__LIKELY(ep != NULL && carry__io_batch == 0 && self->nested_in == NULL &&
                      (prev == NULL || depth >= self->wait_depth))) {
        if (CARRY__LIKELY(self->queue.count == 0 &&
                          atomic_load_explicit(&ep->queued, memory_order_relaxed) == 0)) {
            /* The common wait; the next one is plain. */
            carry__ep_wait_remember(self, epfd, ep, epoch,
                                    carry__config.epoll_batch ? CARRY__PLAIN_BATCH
                                                              : CARRY__PLAIN_SPLIT);
            return carry__ep_wait_real(self, ep, epfd, events, maxevents, timeout, real, prev,
                                       depth);
        }
        /* Split mode's next event of the thread's own batch: no wait, no
         * system call (errno stays). */
        if (self->queue_ep == ep && self->queue.count > 0 &&
            (reg = carry__ring_pop_live(&self->queue, ep, events, &fd)) != NULL)
            return carry__ep_wait_one(self, fd, reg, prev, depth);
    }
    uint64_t batch = carry__io_batch;
    carry__io_batch = 0;
    int err = errno;
    carry__ep_nest(self, depth, &prev, batch);
    if (self->queue.count > 0 && self->queue_ep != ep)
        carry__ep_hand_back(self);
    return carry__ep_wait_rest(self, ep, epfd, events, maxevents, timeout, real, prev, depth,
                               false, 0, err);
}

/* The common wait's way, for a plain one (epoll.h): what carry__ep_wait_own
 * or carry__ep_wait_in_loop checks and looks up first is known. */
int carry__ep_wait_plain(int epfd, struct epoll_event *events, int maxevents, int timeout,
                         carry__wait_fn *real, uintptr_t depth)
{
    struct carry__thread *self = &carry__self;
    struct carry__ep *ep = self->plain_ep;
    if (self->plain_way != CARRY__PLAIN_BATCH) {
        if (self->plain_way == CARRY__PLAIN_LOOP) {
            /* carry__ep_wait_in_loop's way, with ep known. */
            carry__ctx_drain();
            int n = real(epfd, events, maxevents, timeout);
            return n > 0 ? carry__ep_resolve_all(ep, events, n) : n;
        }
        /* Split mode: events other threads handed back go first. */
        if (atomic_load_explicit(&ep->queued, memory_order_relaxed) != 0)
            return carry__ep_wait_own(epfd, events, maxevents, timeout, real, depth);
    }
    carry_ctx *prev = self->current;
    /* A nested wait, or contexts to reclaim first: the whole way. */
    if (CARRY__UNLIKELY((prev != NULL && depth < self->wait_depth) || carry__ctx_drain_due()))
        return carry__ep_wait_own(epfd, events, maxevents, timeout, real, depth);
    carry__current_set(self, NULL);
    return carry__ep_wait_real(self, ep, epfd, events, maxevents, timeout, real, prev, depth);
}

static void carry__reg_reset(int fd, void *entry, void *arg)
{
    (void)arg;
    struct carry__reg *reg = entry;
    if (carry__reg_live(reg, memory_order_relaxed))
        carry__reg_end(reg, fd);
}

/* The epoll fd is closed.  Its state is reused for a later epoll fd; the
 * tokens threads may still hold for it stay stale there, because release
 * frees registrations without resetting their generations, so every later
 * ADD moves past them. */
static void carry__ep_release(struct carry__ep *ep)
{
    /* No thread's plain wait may find ep any more (its number may be
     * another epoll fd's next). */
    atomic_fetch_add_explicit(&carry__ep_epoch, 1, memory_order_relaxed);
    carry__spin_lock(&carry__eps_lock);
    for (struct carry__ep **p = &carry__eps; *p != NULL; p = &(*p)->next) {
        if (*p == ep) {
            *p = ep->next;
            break;
        }
    }
    carry__spin_unlock(&carry__eps_lock);

    carry__spin_lock(&ep->ctl_lock);
    carry__fdmap_each(&ep->regs, carry__reg_reset, NULL);
    carry__spin_unlock(&ep->ctl_lock);
    carry__spin_lock(&ep->queue_lock);
    atomic_store_explicit(&ep->queued, 0, memory_order_relaxed);
    carry__ring_clear(&ep->queue);
    carry__spin_unlock(&ep->queue_lock);
    carry__pool_give(&carry__ep_pool, ep);
}

bool carry__ep_knows(int fd)
{
    return carry__fdmap_get(&carry__ep_fds, fd) != NULL;
}

/* epfd is a new epoll fd: any state left under its number is stale. */
void carry__ep_created(int epfd)
{
    struct carry__ep_fd *e = carry__fdmap_get(&carry__ep_fds, epfd);
    struct carry__ep *ep = e ? carry__ep_tracked(atomic_exchange(&e->ep, NULL)) : NULL;
    if (ep != NULL)
        carry__ep_release(ep);
}

/* fd's registrations end in every epoll fd, and fd's own epoll state when
 * it is one. */
void carry__ep_closed(int fd)
{
    struct carry__ep_fd *e = carry__fdmap_peek(&carry__ep_fds, fd, sizeof(struct carry__ep_fd));
    if (e == NULL)
        return;
    if (atomic_load_explicit(&e->regs, memory_order_acquire) != 0) {
        carry__spin_lock(&carry__eps_lock);
        for (struct carry__ep *ep = carry__eps; ep != NULL; ep = ep->next) {
            struct carry__reg *reg = carry__fdmap_get(&ep->regs, fd);
            if (reg == NULL || !carry__reg_live(reg, memory_order_acquire))
                continue;
            carry__spin_lock(&ep->ctl_lock);
            if (carry__reg_live(reg, memory_order_relaxed))
                carry__reg_end(reg, fd);
            carry__spin_unlock(&ep->ctl_lock);
        }
        carry__spin_unlock(&carry__eps_lock);
    }
    /* Read first: most fds closed are no epoll fd (and a peeked entry is
     * not written). */
    if (atomic_load_explicit(&e->ep, memory_order_relaxed) == NULL)
        return;
    struct carry__ep *ep =
        carry__ep_tracked(atomic_exchange_explicit(&e->ep, NULL, memory_order_acq_rel));
    if (ep != NULL)
        carry__ep_release(ep);
}

/* The events queued in the parent were handed to the parent's threads. */
void carry__ep_atfork_child(void)
{
    for (struct carry__ep *ep = carry__eps; ep != NULL; ep = ep->next) {
        atomic_store_explicit(&ep->queued, 0, memory_order_relaxed);
        carry__ring_clear(&ep->queue);
    }
    carry__ring_clear(&carry__self.queue);
}
