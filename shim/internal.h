/*
 * Internal interface of libcarry's core, shared between shim/ and
 * interpose/.  Nothing here is exported from the library.
 */
#ifndef CARRY_INTERNAL_H
#define CARRY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "carry.h"

#define CARRY__EXPORT __attribute__((visibility("default")))
#define CARRY__LIKELY(x) __builtin_expect(!!(x), 1)
#define CARRY__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The exported entry point (api.c). */
CARRY__EXPORT const struct carry_api *carry_api_v1(void);

/* ---- Configuration (config.c) ------------------------------------------ */

/* Propagation rules, as CARRY_MODE names them. */
enum {
    CARRY__THREADS = 1u << 0,  /* T */
    CARRY__EPOLL = 1u << 1,    /* D and E */
    CARRY__ACCEPT = 1u << 2,   /* C */
    CARRY__LOOPS = 1u << 3,    /* L */
    CARRY__DATAFLOW = 1u << 4, /* H */
};
/* CARRY_TAG outputs.  Bit n of the standard outputs is fd n, so that a
 * write can test its fd with one shift. */
enum {
    CARRY__TAG_STDOUT = 1u << 1,
    CARRY__TAG_STDERR = 1u << 2,
    CARRY__TAG_SYSLOG = 1u << 3,
};
#define CARRY__TAG_FDS (CARRY__TAG_STDOUT | CARRY__TAG_STDERR)

#define CARRY__MODE_EVENTS (CARRY__THREADS | CARRY__EPOLL | CARRY__ACCEPT | CARRY__LOOPS)
#define CARRY__MODE_ALL (CARRY__MODE_EVENTS | CARRY__DATAFLOW)

struct carry__config {
    unsigned mode;    /* CARRY__* bits */
    int debug;        /* CARRY_DEBUG, 0..3 */
    bool inherit;     /* CARRY_INHERIT */
    bool epoll_batch; /* CARRY_EPOLL=batch */
    bool crash;       /* CARRY_CRASH */
    bool active;      /* false when CARRY_ONLY / CARRY_SKIP make carry passive */
    const char *stats; /* CARRY_STATS: "stderr", a path, or NULL */
    unsigned tag;     /* CARRY_TAG: CARRY__TAG_* bits, 0 when passive */
};

extern struct carry__config carry__config;

/* Where configuration comes from; getenv-like.  Tests pass their own. */
typedef const char *carry__getenv_fn(const char *name);

/* Parses the CARRY_* variables into *out, warning once per bad value
 * through carry__warn.  program is the name CARRY_ONLY / CARRY_SKIP match. */
void carry__config_parse(struct carry__config *out, carry__getenv_fn *getenv_fn,
                         const char *program);

static inline bool carry__mode(unsigned rule)
{
    return (carry__config.mode & rule) != 0;
}

/* ---- Logging (log.c) --------------------------------------------------- */

/* Writes "carry: <message>\n" to stderr with one write(2), no stdio, no
 * allocation: safe from any wrapper.  carry__debug logs only at or above
 * the CARRY_DEBUG level. */
void carry__warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define carry__debug(level, ...) \
    do { \
        if (CARRY__UNLIKELY(carry__config.debug >= (level))) \
            carry__warn(__VA_ARGS__); \
    } while (0)

/* Tests capture warnings by installing a sink; NULL restores stderr. */
typedef void carry__warn_sink_fn(const char *line, size_t len);
void carry__set_warn_sink(carry__warn_sink_fn *sink);

/* ---- Locks (lock.c) ---------------------------------------------------- */

/*
 * A spin lock for short critical sections that leave the data they guard
 * consistent at every step.  It stores the fork generation of its holder,
 * so a child process takes over a lock that a thread of its parent held at
 * fork time (that thread does not exist in the child) instead of
 * deadlocking.
 */
typedef _Atomic uint32_t carry__spin;
void carry__spin_lock(carry__spin *lock);
static inline void carry__spin_unlock(carry__spin *lock)
{
    atomic_store_explicit(lock, 0, memory_order_release);
}

/* Odd, changes in every child after fork. */
extern _Atomic uint32_t carry__fork_generation;

/* ---- Contexts (context.c, store.c) ------------------------------------- */

struct carry__entry;
struct carry__chunk;

/*
 * A context.  Memory comes from a pool that never returns it to malloc, so
 * a stale handle points at a context-shaped object, never at freed memory.
 *
 * References are biased towards the thread that made the context (its
 * owner; see context.c): the owner's own scopes count in biased, a plain
 * field only it touches, and cost no atomic operation; every other
 * reference counts in refs.
 */
struct carry_ctx {
    /* Bits 0-31: internal references (threads, registrations, fds);
     * 32-61: handles the API returned; 62: queued to the owner (see
     * carry__ctx_put); 63: dead.  The context dies once refs and biased
     * are both zero. */
    _Atomic uint64_t refs;
    uint64_t id;
    _Atomic(struct carry__entry *) entries; /* the store, newest first */
    struct carry__chunk *arena;             /* entries and values, under lock */
    carry__spin lock;                       /* serialises writers */
    uint32_t magic;
    /* Pool link while dead, owner's queue link while queued.  Atomic
     * (relaxed: the pool's lock and the queue's head order it) because
     * TSan reported the queue link racing in memcached's test, a report
     * not explained yet (see context.c). */
    _Atomic(struct carry_ctx *) next;
    _Atomic(struct carry__owner *) owner;   /* fixed for the context's life; NULL: none */
    uint32_t biased;                        /* the owner's references */
} __attribute__((aligned(64)));

#define CARRY__CTX_LIVE 0x43415259u /* "CARY" */
#define CARRY__CTX_DEAD 0xdeadc7a0u

#define CARRY__REF_INTERNAL UINT64_C(1)
#define CARRY__REF_HANDLE (UINT64_C(1) << 32)
#define CARRY__REF_COUNTS ((UINT64_C(1) << 62) - 1)
#define CARRY__REF_QUEUED (UINT64_C(1) << 62)
#define CARRY__REF_DEAD (UINT64_C(1) << 63)

/* A new context with a fresh id and one internal reference in refs, or
 * NULL with errno ENOMEM.  The calling thread becomes its owner. */
carry_ctx *carry__ctx_new(void);

/* The same with a thread reference instead, for the thread to adopt. */
carry_ctx *carry__ctx_new_local(void);

/* The thread ends: the contexts it owns are no one's (see context.c). */
void carry__ctx_owner_end(void);

static inline void carry__ctx_ref(carry_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, CARRY__REF_INTERNAL, memory_order_relaxed);
}

/* Gives back a reference in refs (unit: CARRY__REF_INTERNAL or _HANDLE).
 * With the last one the context dies, unless another thread owns it:
 * that thread may be running in it, and decides.  False, and nothing
 * done, when no handle was out. */
bool carry__ctx_put(carry_ctx *ctx, uint64_t unit);

static inline void carry__ctx_unref(carry_ctx *ctx)
{
    carry__ctx_put(ctx, CARRY__REF_INTERNAL);
}

/* A thread as the owner of the contexts it made.  Outlives its thread:
 * contexts keep pointing at it, and a later thread takes it over. */
struct carry__owner {
    /* Contexts other threads let go of, for the owner to settle; GONE
     * once its thread has ended. */
    _Atomic(carry_ctx *) queue;
    /* Its contexts alive; the top bit once its thread has ended.  The
     * owner is freed when both say so. */
    _Atomic uint64_t contexts;
    struct carry__owner *next_all, *next_ended;
};

#define CARRY__OWNER_GONE ((carry_ctx *)1)

static inline bool carry__owner_queued(struct carry__owner *owner)
{
    return atomic_load_explicit(&owner->queue, memory_order_relaxed) != NULL;
}

/* A new reference in refs to the context a shared slot holds, or NULL;
 * safe against a concurrent carry__ctx_store on the slot. */
carry_ctx *carry__ctx_take(_Atomic(carry_ctx *) *slot);

/* Converts one internal reference into an API handle and back. */
carry_ctx *carry__ctx_handle(carry_ctx *ctx);
void carry__ctx_release_handle(carry_ctx *ctx);

/* Contexts alive in this process (for tests and stats). */
uint64_t carry__ctx_live(void);

/* A fresh, non-zero id: the pid in the top 24 bits, a counter below, so
 * ids of a parent and its forked children differ. */
uint64_t carry__id_next(void);

/* The store.  Reads are wait-free; writes take the context's lock. */
const char *carry__store_get(carry_ctx *ctx, const char *key);
int carry__store_set(carry_ctx *ctx, const char *key, const char *value);
int carry__store_unset(carry_ctx *ctx, const char *key);
void carry__store_free(carry_ctx *ctx);

/* Fills keys and values (room for max each) with the keys that have a
 * value, newest first, and returns how many there are in all.  Allocates
 * nothing and takes no lock: safe in a signal handler. */
size_t carry__store_list(carry_ctx *ctx, const char **keys, const char **values, size_t max);

/* Validates a key: 0, or an errno value. */
int carry__key_check(const char *key, size_t *len);

/* ---- The current context (current.c) ----------------------------------- */

struct carry__ep;

/* A ring of epoll events (carry's tokens); cap is a power of two. */
struct carry__ring {
    struct epoll_event *slots;
    uint32_t head, count, cap;
};

struct carry__thread {
    carry_ctx *current;  /* holds a thread reference */
    struct carry__owner *owner; /* this thread's as an owner of contexts, or NULL */
    bool finished;       /* the thread has ended: it owns no more contexts */
    uint64_t id_next;    /* this thread's block of ids */
    uint64_t id_limit;
    bool exit_hook;      /* thread-exit release armed */
    uint64_t batch;      /* CARRY_EPOLL=batch: the batch being handled, 0 if none */
    uint32_t batch_left; /* its events whose fd has not seen I/O yet */
    struct carry__ep *batch_ep;
    struct carry__ring queue;       /* split mode: the rest of this thread's batch */
    struct carry__ep *queue_ep;     /* whose events they are */
    unsigned in_loop;               /* depth of event-library loops running */
    unsigned uv_callbacks;          /* depth of libuv callbacks carry runs */
};

extern __thread struct carry__thread carry__self __attribute__((tls_model("initial-exec")));

static inline carry_ctx *carry__current(void)
{
    return carry__self.current;
}

/*
 * Thread references: references a thread takes and gives back itself (its
 * current context, a callback's scope).  In a context the thread owns they
 * count in biased, with no atomic operation; elsewhere in refs.
 */
static inline bool carry__ctx_owned(const carry_ctx *ctx)
{
    struct carry__owner *mine = carry__self.owner;
    return mine != NULL && atomic_load_explicit(&ctx->owner, memory_order_relaxed) == mine;
}

/* The owner's last reference went: the context dies if refs is zero too. */
void carry__ctx_settle(carry_ctx *ctx);

/* A thread reference to ctx, which the caller knows to be alive. */
static inline void carry__ctx_ref_local(carry_ctx *ctx)
{
    if (carry__ctx_owned(ctx))
        ctx->biased++;
    else
        carry__ctx_ref(ctx);
}

static inline void carry__ctx_unref_local(carry_ctx *ctx)
{
    if (!carry__ctx_owned(ctx))
        carry__ctx_unref(ctx);
    else if (--ctx->biased == 0 && atomic_load_explicit(&ctx->refs, memory_order_acquire) == 0)
        carry__ctx_settle(ctx);
}

/* Turns a reference in refs, which the caller holds, into a thread
 * reference. */
static inline carry_ctx *carry__ctx_localize(carry_ctx *ctx)
{
    if (ctx != NULL && carry__ctx_owned(ctx)) {
        ctx->biased++;
        carry__ctx_unref(ctx);
    }
    return ctx;
}

/* A thread reference to the context a shared slot holds, or NULL.  The
 * owner needs no atomics: a context its slot held cannot die before its
 * owner lets it (carry__ctx_put). */
static inline carry_ctx *carry__ctx_take_local(_Atomic(carry_ctx *) *slot)
{
    carry_ctx *ctx = atomic_load_explicit(slot, memory_order_acquire);
    if (ctx != NULL && carry__ctx_owned(ctx)) {
        ctx->biased++;
        return ctx;
    }
    return ctx != NULL ? carry__ctx_take(slot) : NULL;
}

/* Contexts other threads let go of while this thread owned them: those
 * that have no reference left die now (at rule-D points, thread exit). */
void carry__ctx_drain_slow(struct carry__owner *mine);
static inline void carry__ctx_drain(void)
{
    struct carry__owner *mine = carry__self.owner;
    if (CARRY__UNLIKELY(mine != NULL && carry__owner_queued(mine)))
        carry__ctx_drain_slow(mine);
}

/* A thread that will need carry__thread_finish at exit (it holds a context
 * or queued events) arms the hook once. */
void carry__arm_exit_hook(void);

/* The thread ends: its queued events go back to their epoll fd, its
 * context is released. */
void carry__thread_finish(void);

/* Makes ctx current (taking a reference; NULL: none), releasing the old. */
void carry__switch(carry_ctx *ctx);

/* Makes ctx current, adopting a thread reference the caller holds. */
void carry__adopt(carry_ctx *ctx);

/* Runs what follows in ctx, whose reference the scope takes over (NULL:
 * none); returns the context to give carry__scope_leave, which restores
 * it and releases whatever is current then.  carry_run and every library
 * callback trampoline use this pair. */
static inline carry_ctx *carry__scope_enter(carry_ctx *ctx)
{
    carry_ctx *prev = carry__self.current;
    carry__self.current = NULL;
    carry__adopt(ctx);
    return prev;
}

static inline void carry__scope_leave(carry_ctx **prev)
{
    carry__adopt(*prev);
}

/* Rule D: the thread is back in its event loop; its context ends. */
static inline void carry__dispatch(void)
{
    if (carry__self.current)
        carry__switch(NULL);
    carry__ctx_drain();
}

/* ---- Threads (thread.c) ------------------------------------------------ */

/* Rule T.  If the new thread should start in the current context, replaces
 * *fn and *arg with a trampoline that enters it and returns true; the
 * caller then passes them to the real pthread_create, and calls
 * carry__thread_abandon(*arg) if that fails. */
bool carry__thread_capture(void *(**fn)(void *), void **arg);
void carry__thread_abandon(void *arg);

/* ---- File descriptor maps (fdmap.c) ------------------------------------ */

#define CARRY__FDMAP_PAGE 1024
#define CARRY__FDMAP_PAGES 1024
#define CARRY__FDMAP_LIMIT (CARRY__FDMAP_PAGE * CARRY__FDMAP_PAGES) /* fds tracked */

struct carry__fdmap {
    size_t entry_size;
    _Atomic(char *) pages[CARRY__FDMAP_PAGES];
};

/* The entry of fd, or NULL when its page was never used or fd is out of
 * range (carry then leaves that fd alone). */
static inline void *carry__fdmap_get(struct carry__fdmap *map, int fd)
{
    if ((unsigned)fd >= CARRY__FDMAP_LIMIT)
        return NULL;
    char *page = atomic_load_explicit(&map->pages[fd / CARRY__FDMAP_PAGE], memory_order_acquire);
    return page ? page + (size_t)(fd % CARRY__FDMAP_PAGE) * map->entry_size : NULL;
}

void *carry__fdmap_ensure_page(struct carry__fdmap *map, int fd);

/* The entry of fd, allocating its (zeroed) page; NULL when out of memory or
 * range.  The allocation is out of line, so that the common case stays a
 * look-up. */
static inline void *carry__fdmap_ensure(struct carry__fdmap *map, int fd)
{
    void *entry = carry__fdmap_get(map, fd);
    return CARRY__LIKELY(entry != NULL) ? entry : carry__fdmap_ensure_page(map, fd);
}

/* Calls fn on every entry of every allocated page. */
void carry__fdmap_each(struct carry__fdmap *map, void (*fn)(int fd, void *entry, void *arg),
                       void *arg);

/* ---- Stats (stats.c) -------------------------------------------------- */

enum carry__boundary {
    CARRY__B_THREADS,
    CARRY__B_EPOLL,
    CARRY__B_LIBEVENT,
    CARRY__B_LIBEV,
    CARRY__B_LIBUV,
    CARRY__BOUNDARIES
};

enum { CARRY__CAPTURED, CARRY__RESTORED, CARRY__WITHOUT };

struct carry__stats {
    _Atomic uint64_t flow[CARRY__BOUNDARIES][3]; /* captures, restores, none */
    _Atomic uint64_t created, peak, accepted, connected, mismatches;
};

extern struct carry__stats carry__stats;
extern _Atomic bool carry__stats_on; /* CARRY_STATS is set */

static inline bool carry__counting(void)
{
    return CARRY__UNLIKELY(atomic_load_explicit(&carry__stats_on, memory_order_relaxed));
}

static inline void carry__count(_Atomic uint64_t *counter)
{
    if (carry__counting())
        atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* Work was scheduled at boundary b while ctx was current. */
static inline void carry__count_capture(enum carry__boundary b, const carry_ctx *ctx)
{
    if (carry__counting() && ctx != NULL)
        atomic_fetch_add_explicit(&carry__stats.flow[b][CARRY__CAPTURED], 1, memory_order_relaxed);
}

/* Work was dispatched at boundary b, to run in ctx (NULL: none). */
static inline void carry__count_dispatch(enum carry__boundary b, const carry_ctx *ctx)
{
    if (carry__counting())
        atomic_fetch_add_explicit(&carry__stats.flow[b][ctx ? CARRY__RESTORED : CARRY__WITHOUT], 1,
                                  memory_order_relaxed);
}

void carry__stats_context_born(uint64_t live);
void carry__stats_init(const char *target);
/* The report, as printed at exit; returns its length. */
size_t carry__stats_format(char *buf, size_t size);
void carry__stats_atfork_child(void);
/* I/O on fd (fd.c): a mismatch when the fd's connection is not current. */
void carry__stats_io(int fd);

/* ---- Context slots (fd.c) ---------------------------------------------- */


/* Makes the slot hold ctx (taking a reference; NULL: none), releasing the
 * context it held. */
void carry__ctx_store(_Atomic(carry_ctx *) *slot, carry_ctx *ctx);

/* ---- File descriptors (fd.c) ------------------------------------------- */

enum {
    CARRY__FD_NONE,
    CARRY__FD_ACCEPTED,  /* owns its connection's context */
    CARRY__FD_CONNECTED, /* borrowed by the context that last wrote to it */
};

struct carry__fd {
    _Atomic(carry_ctx *) owner;       /* holds a reference */
    _Atomic(struct carry__ep *) ep;   /* set when this fd is an epoll fd */
    _Atomic(char *) local;            /* a listener's local address, cached */
    _Atomic uint32_t regs;            /* epoll registrations of this fd */
    _Atomic uint8_t kind;
    _Atomic uint8_t probed;           /* a listener's address was looked at */
};

extern struct carry__fdmap carry__fds;

/* Set once the process connects an fd: until then writes need no look-up. */
extern _Atomic bool carry__fds_borrowed;

/* Rule C: fd was accepted on listen_fd from peer; it gets a new context,
 * which becomes the thread's current one. */
void carry__fd_accepted(int listen_fd, int fd, const struct sockaddr *peer, unsigned peer_len);

/* fd was connected: an outbound fd, borrowed by whoever writes to it. */
void carry__fd_connected(int fd);

void carry__fd_wrote_slow(struct carry__fd *e, carry_ctx *current);

/* The thread wrote to fd: a borrowed fd changes hands. */
static inline void carry__fd_wrote(int fd)
{
    if (!atomic_load_explicit(&carry__fds_borrowed, memory_order_relaxed))
        return;
    struct carry__fd *e = carry__fdmap_get(&carry__fds, fd);
    if (e != NULL && atomic_load_explicit(&e->kind, memory_order_relaxed) == CARRY__FD_CONNECTED &&
        atomic_load_explicit(&e->owner, memory_order_relaxed) != carry__current())
        carry__fd_wrote_slow(e, carry__current());
}

/* Called before fd is closed (so that a racing accept that reuses the
 * number cannot have its new state wiped): ownership ends, queued epoll
 * events of fd are dropped, an epoll fd's state is released. */
void carry__fd_close(int fd);

/* close_range(first, last) without CLOSE_RANGE_CLOEXEC. */
void carry__fd_close_range(unsigned first, unsigned last);

/* newfd is now a duplicate of oldfd (newfd's old state was closed first). */
void carry__fd_dup(int oldfd, int newfd);

/* ---- epoll (epoll.c) --------------------------------------------------- */

/* The real epoll_wait, epoll_pwait or epoll_pwait2, with the caller's
 * timeout and signal mask bound in call. */
typedef int carry__wait_fn(void *call, struct epoll_event *events, int maxevents);

/* Rules D and E for one epoll_wait-family call; forever tells whether the
 * caller's timeout is infinite. */
int carry__ep_wait(int epfd, struct epoll_event *events, int maxevents, carry__wait_fn *real,
                   void *call, bool forever);

typedef int carry__ctl_fn(int epfd, int op, int fd, struct epoll_event *event);

/* Rule E for epoll_ctl: binds the registration to the current context and
 * swaps the caller's data for carry's token. */
int carry__ep_ctl(int epfd, int op, int fd, struct epoll_event *event, carry__ctl_fn *real);

void carry__ep_fd_closed(int fd);

void carry__ep_batch_io(int fd);

/* CARRY_EPOLL=batch: I/O on an fd of the batch being handled switches to
 * that event's context. */
static inline void carry__fd_io(int fd)
{
    if (CARRY__UNLIKELY(carry__self.batch != 0))
        carry__ep_batch_io(fd);
    if (carry__counting())
        carry__stats_io(fd);
}

/* epfd is a new epoll fd: any state left under its number is stale. */
void carry__ep_created(int epfd);
void carry__ep_release(struct carry__ep *ep);
void carry__ep_atfork_child(void);

/* Hands the thread's queued events back to their epoll fd's shared queue. */
void carry__ep_thread_exit(void);

/* ---- Event-loop libraries (loops.c) ----------------------------------- */

/* A callback the application gave a library, with what rule L needs. */
struct carry__cb {
    const void *key;          /* the library object it belongs to */
    void (*fn)(void);         /* the application's callback */
    void (*fn2)(void);        /* a second callback: libevent's finalizer, libuv's
                               * alloc_cb or work_cb */
    void *arg;                /* its argument (libevent); the free list's link */
    _Atomic(carry_ctx *) ctx; /* captured when the work was scheduled */
    int fd;                   /* watched fd (rule C), or -1 */
    bool persist;             /* stays scheduled after it runs */
    uint8_t boundary;         /* the library, for CARRY_STATS */
};

/* key's record (created if create), or NULL (out of memory: pass the
 * callback through unchanged). */
struct carry__cb *carry__cb_of(const void *key, bool create);
void carry__cb_forget(const void *key);

/* Records in the table now and at most (CARRY_STATS). */
void carry__cb_counts(size_t *alive, size_t *peak);

/* The work was scheduled: capture the current context. */
void carry__cb_capture(struct carry__cb *cb);

/* The work was unscheduled: let go of the captured context. */
void carry__cb_drop(struct carry__cb *cb);

/* The context the callback runs in, as a reference for carry__scope_enter:
 * what its fd owns, else what was captured. */
carry_ctx *carry__cb_context(struct carry__cb *cb, int fd);

/* A library loop runs on this thread: its callbacks set their contexts
 * precisely, so the epoll layer only translates its tokens meanwhile. */
static inline void carry__loop_enter(void)
{
    carry__dispatch();
    carry__self.in_loop++;
}

static inline void carry__loop_leave(void)
{
    carry__self.in_loop--;
    carry__dispatch();
}

/* ---- Crash reports (crash.c) ------------------------------------------- */

typedef int carry__sigaction_fn(int sig, const struct sigaction *act, struct sigaction *old);
typedef __sighandler_t carry__signal_fn(int sig, __sighandler_t handler);

/* Installs carry's handler for the fatal signals when carry is active and
 * CARRY_CRASH=1 (once, from libcarry's constructor: actions set before are
 * read from the kernel); real is the next sigaction, which carry uses from
 * then on. */
void carry__crash_start(carry__sigaction_fn *real);
extern _Atomic bool carry__crash_started;

/* True, once started, when carry's handler stands in for the program's
 * disposition of sig. */
bool carry__crash_owns(int sig);

/* sigaction, signal (real: the next one) and sysv_signal for a signal
 * carry owns: the program's disposition is recorded and reported back as
 * its own, while carry's handler stays installed and calls it after the
 * report. */
int carry__crash_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
__sighandler_t carry__crash_signal(int sig, __sighandler_t handler, carry__signal_fn *real);
__sighandler_t carry__crash_sysv_signal(int sig, __sighandler_t handler);

/* ---- Function names (elf.c) ------------------------------------------- */

/* An ELF file mapped by carry__elf_address, kept for the next call. */
struct carry__elf {
    char path[512];
    const unsigned char *map;
    size_t size;
};

/* Maps the ELF file at path (or keeps it from the last call) and turns
 * file offset off into an address of the file's own layout: what its
 * symbols and addr2line use.  Allocates nothing and takes no lock: safe in
 * a signal handler, as is carry__elf_symbol. */
bool carry__elf_address(struct carry__elf *elf, const char *path, uint64_t off, uint64_t *addr);

/* The function of the mapped file that holds addr: its name (cut to size)
 * and addr's distance from its start. */
bool carry__elf_symbol(const struct carry__elf *elf, uint64_t addr, char *name, size_t size,
                       uint64_t *offset);
void carry__elf_close(struct carry__elf *elf);

/* ---- Lifecycle (init.c) ------------------------------------------------ */

/* Wrappers call this before anything else: cheap once initialised. */
extern _Atomic int carry__initialised;
void carry__init(void);
static inline void carry__ensure_init(void)
{
    if (CARRY__UNLIKELY(!atomic_load_explicit(&carry__initialised, memory_order_acquire)))
        carry__init();
}

/* True when carry propagates rule in this program. */
static inline bool carry__on(unsigned rule)
{
    carry__ensure_init();
    return carry__config.active && carry__mode(rule);
}

/* Fork handling of each module, called by init.c's pthread_atfork handlers. */
void carry__ctx_atfork_prepare(void);
void carry__ctx_atfork_parent(void);
void carry__ctx_atfork_child(void);
/* The callback records' table is held across fork, so that the child
 * never sees it half-changed (lookups would wait for ever). */
void carry__cbs_atfork_prepare(void);
void carry__cbs_atfork_release(void);

/* ---- Tagging (tag.c) -------------------------------------------------- */

/*
 * CARRY_TAG: every line the program writes to a tagged output starts with
 * "[carry <16 hex digits>] " when a context is current.  Raw writes are
 * tagged at the fd (one writev per write), stdio at the stream (its
 * flushes go through libc's internal write, which carry never sees), and
 * syslog in the message.  Which fd is stdout or stderr is its number at
 * the time of the write (fileno for a stream), so a program that dup2s a
 * file over fd 2 has its lines tagged there; an fd that carry knows as a
 * connection (rule C) is never tagged, whatever its number.
 */
#define CARRY__TAG_LEN 25 /* "[carry " + 16 hex digits + "] " */

/* Writes the tag of id, CARRY__TAG_LEN bytes without a NUL, to out. */
void carry__tag_format(char *out, uint64_t id);

bool carry__tag_fd_slow(int fd);

/* Are the lines written to fd tagged?  One predictable branch when
 * tagging is off (call carry__ensure_init first). */
static inline bool carry__tag_fd(int fd)
{
    return CARRY__UNLIKELY(carry__config.tag & CARRY__TAG_FDS) && carry__tag_fd_slow(fd);
}

int carry__tag_file_slow(FILE *fp);

/* The fd (1 or 2) whose tagging applies to the stream fp, or -1 when its
 * lines are not tagged (not a file stream, another fd, wide-oriented). */
static inline int carry__tag_file(FILE *fp)
{
    carry__ensure_init();
    if (CARRY__LIKELY(!(carry__config.tag & CARRY__TAG_FDS)))
        return -1;
    return carry__tag_file_slow(fp);
}

static inline bool carry__tag_syslog(void)
{
    carry__ensure_init();
    return CARRY__UNLIKELY(carry__config.tag & CARRY__TAG_SYSLOG);
}

/* The id whose tag the lines written now get: the current context's, 0
 * for none. */
static inline uint64_t carry__tag_id(void)
{
    carry_ctx *ctx = carry__current();
    return ctx ? ctx->id : 0;
}

/*
 * A write or writev of the program (src, cnt) to fd, which carry__tag_fd
 * accepted.  With id 0 and no tag left half-written on fd, plain(fd, src,
 * cnt) does it (the program's own call) and carry notes whether the line
 * ended.  Otherwise tags go in front of each line start, in the same
 * writev (tagged) as the program's bytes; the result counts the
 * program's bytes only.  A write with more lines than one writev holds
 * takes one writev per CARRY__TAG_PIECES / 2 lines.  A partial write is
 * returned as such; one that ends inside a tag leaves the rest of that tag
 * to be written first by the next write to fd, and is retried at once when
 * none of the program's bytes got out (a write never returns 0 for
 * carry's bytes alone).  With all, keeps writing until every byte is out
 * or an error (dprintf); then -1 on any error.
 */
typedef ssize_t carry__writev_fn(int fd, const struct iovec *iov, int cnt);
ssize_t carry__tag_writev(int fd, const struct iovec *src, int cnt, uint64_t id,
                          carry__writev_fn *tagged, carry__writev_fn *plain, bool all);
#define CARRY__TAG_PIECES 64

/* Notes whether fd is mid-line now (a tag left half-written stays). */
void carry__tag_mark(int fd, bool mid);

/* Notes that the program wrote src (n bytes were written: the last one
 * tells whether fd is at a line start now). */
void carry__tag_noted(int fd, const struct iovec *src, int cnt, size_t n);

/*
 * The program's bytes on their way to a stream: kept at data +
 * CARRY__TAG_LEN, so that the first tag fits in front and the others are
 * inserted in place.  A stack buffer, moved to the heap only for outputs
 * larger than it.
 */
#define CARRY__TAG_STACK 4096
struct carry__tag_buf {
    char *data;
    size_t len; /* the program's bytes */
    size_t cap; /* bytes at data */
    char stack[CARRY__TAG_STACK];
};

void carry__tag_buf_init(struct carry__tag_buf *b);
/* For __attribute__((cleanup)): also frees when a cancelled thread
 * unwinds. */
void carry__tag_buf_free(struct carry__tag_buf *b);

/* Formats into b (vsnprintf, fortified as __vsnprintf_chk with flag > 0;
 * %m reads errno as it is on entry).  ap is left untouched.  The length,
 * or -1 and errno (ENOMEM, or the formatting error). */
int carry__tag_buf_vformat(struct carry__tag_buf *b, int flag, const char *fmt, va_list ap);

/* Copies src into b; false with errno ENOMEM when it does not fit. */
bool carry__tag_buf_copy(struct carry__tag_buf *b, const struct iovec *src, int cnt);

/*
 * Writes b's bytes to fp, a stream of fd, under the stream's lock, with a
 * tag at each line start when id is not 0, and notes whether the line
 * ended.  The tags and the bytes go to the stream in one fwrite (one
 * write(2) on an unbuffered stream).  Returns how many of the program's
 * bytes were written: b->len, or fewer after an error (errno says which).
 */
size_t carry__tag_put(FILE *fp, int fd, struct carry__tag_buf *b, uint64_t id);

/* The same from the program's own buffers (fputs, fwrite, puts...). */
size_t carry__tag_put_copy(FILE *fp, int fd, const struct iovec *src, int cnt, uint64_t id);

/* Back to line starts everywhere (tests). */
void carry__tag_reset(void);

/* ---- Processes (inherit.c) --------------------------------------------- */

/*
 * With CARRY_INHERIT=0: if envp's LD_PRELOAD names libcarry, fills out
 * (room for n_out pointers) with envp minus libcarry, using buf (size
 * buf_size) for the new LD_PRELOAD string, and returns out; else returns
 * envp.  Allocates nothing: safe in a vfork child.
 */
char *const *carry__env_without_carry(char *const *envp, char **out, size_t n_out,
                                      char *buf, size_t buf_size);
size_t carry__env_count(char *const *envp);
bool carry__inherit_strip(void);

/* Removes libcarry from this process's own LD_PRELOAD (CARRY_INHERIT=0), so
 * that every exec which passes environ runs without it. */
void carry__inherit_init(void);

/* Is this LD_PRELOAD entry libcarry? */
bool carry__is_carry_path(const char *entry, size_t len);

#endif /* CARRY_INTERNAL_H */
