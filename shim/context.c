/*
 * Contexts: their memory, their ids and their references.
 *
 * Context memory comes from slabs that are never given back to malloc: a
 * context that dies goes to a free list and is reused.  So a handle the
 * application released too often still points at a context-shaped object,
 * and the double release is caught by the checks below instead of turning
 * into a corrupted heap.
 *
 * References are biased (after Choi, Shull and Torrellas, "Biased
 * Reference Counting", PACT 2018): the thread that makes a context owns
 * it, and its scopes count their references in the context's plain biased
 * field, so that the common dispatch, which enters a context and leaves it
 * on the thread that accepted its connection, costs no atomic operation.
 * Every other reference counts in the atomic refs.  Only the owner reads
 * biased, so another thread that takes refs to zero cannot tell whether
 * the owner is running in the context: it marks the context queued and
 * hands it to the owner, which settles it at its next rule-D point (or
 * when it ends).  A context dies when both counts are zero, marked dead
 * by a compare-and-swap from exactly zero, so that the owner and a
 * queueing thread never both act on it.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "context.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "self.h"
#include "span.h"
#include "stats.h"
#include "store.h"

#define CARRY__SLAB_CONTEXTS 64

_Static_assert(offsetof(carry_ctx, trace) == 64, "what every event touches fits one cache line");
_Static_assert(sizeof(carry_ctx) == 128, "and the trace identity another (README, OpenTelemetry)");

static void carry__ctx_init_dead(void *obj)
{
    carry_ctx *ctx = obj;
    atomic_init(&ctx->refs, CARRY__REF_DEAD);
}

static struct carry__pool carry__contexts =
    CARRY__POOL_INIT(carry_ctx, next, CARRY__SLAB_CONTEXTS, carry__ctx_init_dead, true, "contexts");
static _Atomic uint64_t carry__live;
static _Atomic bool carry__ever; /* see carry__ctx_ever; a fork inherits it */

/* The pid in the top 24 bits makes a forked child's ids differ from its
 * parent's; the counter below gives 2^40 ids per process.  The prefix is
 * set on first use by whichever thread gets there (all compute the same
 * value), and anew in a forked child. */
static _Atomic uint64_t carry__id_prefix;
static _Atomic uint64_t carry__id_counter = 1;
#define CARRY__ID_BLOCK 1024

static uint64_t carry__id_prefix_of_this_process(void)
{
    uint64_t prefix = atomic_load_explicit(&carry__id_prefix, memory_order_relaxed);
    if (CARRY__UNLIKELY(prefix == 0)) {
        prefix = ((uint64_t)getpid() & 0xffffff) << 40;
        atomic_store_explicit(&carry__id_prefix, prefix, memory_order_relaxed);
    }
    return prefix;
}

/* A thread's next block of counter values, with the pid above them. */
__attribute__((noinline)) void carry__id_refill(struct carry__thread *self)
{
    uint64_t block = atomic_fetch_add(&carry__id_counter, CARRY__ID_BLOCK);
    self->id_next = carry__id_prefix_of_this_process() | (block & ((UINT64_C(1) << 40) - 1));
    self->id_limit = self->id_next + CARRY__ID_BLOCK;
    carry__trace_seed();
    /* Every context takes an id: a thread's first one comes here. */
    atomic_store_explicit(&carry__ever, true, memory_order_relaxed);
}

/* Every owner, for fork (see carry__ctx_atfork_child). */
static carry__spin carry__owners_lock;
static struct carry__owner *carry__owners;

#define CARRY__OWNER_ENDED (UINT64_C(1) << 63)

static void carry__owner_unlink(struct carry__owner *owner)
{
    carry__spin_lock(&carry__owners_lock);
    struct carry__owner **p = &carry__owners;
    while (*p != owner)
        p = &(*p)->next_all;
    *p = owner->next_all;
    carry__spin_unlock(&carry__owners_lock);
    /* A context dies on paths that leave the program's errno alone. */
    carry__free_keep_errno(owner);
}

/* One context of owner died. */
static void carry__owner_lost(struct carry__owner *owner)
{
    if (atomic_fetch_sub_explicit(&owner->contexts, 1, memory_order_acq_rel) ==
        (CARRY__OWNER_ENDED | 1))
        carry__owner_unlink(owner);
}

struct carry__owner *carry__owner_new(void)
{
    int saved_errno = errno;
    struct carry__owner *owner = malloc(sizeof *owner);
    errno = saved_errno;
    if (owner == NULL)
        return NULL;
    atomic_init(&owner->queue, NULL);
    atomic_init(&owner->contexts, 0);
    carry__spin_lock(&carry__owners_lock);
    owner->next_all = carry__owners;
    carry__owners = owner;
    carry__spin_unlock(&carry__owners_lock);
    return owner;
}

/* Clears ctx's queued mark; returns the references left in refs. */
static uint64_t carry__ctx_clear_queued(carry_ctx *ctx)
{
    return atomic_fetch_and_explicit(&ctx->refs, ~CARRY__REF_QUEUED, memory_order_acq_rel) &
           ~CARRY__REF_QUEUED;
}

/* Settles a list of contexts handed to their owner (carry__ctx_put). */
static void carry__ctx_settle_list(carry_ctx *ctx)
{
    while (ctx != NULL && ctx != CARRY__OWNER_GONE) {
        carry_ctx *next = atomic_load_explicit(&ctx->next, memory_order_relaxed);
        if (carry__ctx_clear_queued(ctx) == 0 && ctx->biased == 0)
            carry__ctx_settle(ctx);
        ctx = next;
    }
}

void carry__owner_drain(struct carry__owner *owner)
{
    carry__ctx_settle_list(atomic_exchange_explicit(&owner->queue, NULL, memory_order_acquire));
}

/* An owner whose thread is gone: from now on, whoever takes one of its
 * contexts' refs to zero kills it, since no thread runs in it without a
 * reference in refs. */
void carry__owner_end(struct carry__owner *owner)
{
    carry__ctx_settle_list(
        atomic_exchange_explicit(&owner->queue, CARRY__OWNER_GONE, memory_order_acq_rel));
    if (atomic_fetch_or_explicit(&owner->contexts, CARRY__OWNER_ENDED, memory_order_acq_rel) == 0)
        carry__owner_unlink(owner);
}

carry_ctx *carry__ctx_make(struct carry__owner *owner, bool thread_ref)
{
    if (owner != NULL && carry__owner_queued(owner))
        carry__owner_drain(owner);
    carry_ctx *ctx = carry__pool_take(&carry__contexts);
    if (ctx == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    bool local = thread_ref && owner != NULL;
    if (owner != NULL)
        atomic_fetch_add_explicit(&owner->contexts, 1, memory_order_relaxed);
    atomic_init(&ctx->refs, local ? 0 : CARRY__REF_INTERNAL);
    ctx->biased = local ? 1 : 0;
    atomic_store_explicit(&ctx->owner, owner, memory_order_relaxed);
    ctx->id = carry__id_next();
    carry__trace_start(&ctx->trace, ctx->id);
    /* Empty: a dead context's store keeps at most its one small chunk,
     * emptied (carry__ctx_die). */
    atomic_init(&ctx->store.entries, NULL);
    atomic_init(&ctx->lock, 0);
    ctx->parent = NULL;
    ctx->seq = 0;
    atomic_store_explicit(&ctx->next, NULL, memory_order_relaxed);
    uint64_t live = atomic_fetch_add_explicit(&carry__live, 1, memory_order_relaxed) + 1;
    if (carry__counting())
        carry__stats_context_born(live);
    return ctx;
}

void carry__ctx_span_end(carry_ctx *ctx)
{
    uint64_t start = __atomic_exchange_n(&ctx->trace.start_ns, 0, __ATOMIC_RELAXED);
    if (start == 0)
        return;
    /* The keys a span shows become keys now if they were not read: a
     * request's HTTP keys in its own store, its addresses in its
     * connection's, once for all its requests. */
    carry_ctx *conn = ctx->parent;
    if (conn != NULL) {
        carry__ctx_get(ctx, "http.method");
        carry__ctx_get(ctx, "http.target");
        carry__ctx_get(ctx, "request_id");
    }
    carry_ctx *addressed = conn != NULL ? conn : ctx;
    carry__span_end(&ctx->trace, start, ctx->id, &ctx->store, conn != NULL ? &conn->store : NULL,
                    carry__ctx_get(addressed, "peer"), carry__ctx_get(addressed, "local"));
}

void carry__ctx_each(void (*fn)(void *ctx, void *arg), void *arg)
{
    carry__pool_each(&carry__contexts, fn, arg);
}

static void carry__ctx_die(carry_ctx *ctx)
{
    if (carry__export_on() && carry__span_started(&ctx->trace) != 0)
        carry__ctx_span_end(ctx);
    /* The one small chunk most stores have stays with the context, for the
     * keys of its next life (a connection's addresses). */
    carry__store_free_arena(carry__store_recycle(&ctx->store));
    if (ctx->parent != NULL)
        carry__ctx_unref(ctx->parent);
    struct carry__owner *owner = atomic_load_explicit(&ctx->owner, memory_order_relaxed);
    if (owner != NULL)
        carry__owner_lost(owner);
    atomic_fetch_sub_explicit(&carry__live, 1, memory_order_relaxed);
    carry__pool_give(&carry__contexts, ctx);
}

void carry__ctx_settle(carry_ctx *ctx)
{
    uint64_t zero = 0;
    if (atomic_compare_exchange_strong_explicit(&ctx->refs, &zero, CARRY__REF_DEAD,
                                                memory_order_acq_rel, memory_order_relaxed))
        carry__ctx_die(ctx);
}

/* ctx, which another thread owns, has no reference left in refs: queued
 * to its owner, which may be running in it.  The owner reads the links
 * after its acquiring exchange of the head, which every push releases to. */
static void carry__ctx_hand_over(carry_ctx *ctx, struct carry__owner *owner)
{
    /* Acquire: seeing GONE must order the ended thread's last uses of ctx
     * before whatever this thread does to it. */
    carry_ctx *head = atomic_load_explicit(&owner->queue, memory_order_acquire);
    do {
        if (head == CARRY__OWNER_GONE) {
            if (carry__ctx_clear_queued(ctx) == 0)
                carry__ctx_settle(ctx);
            return;
        }
        atomic_store_explicit(&ctx->next, head, memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&owner->queue, &head, ctx,
                                                    memory_order_acq_rel, memory_order_acquire));
}

/* carry__ctx_put where the reference may be the last (refs was old). */
static __attribute__((noinline)) bool carry__ctx_put_last(carry_ctx *ctx, uint64_t unit,
                                                          uint64_t old)
{
    struct carry__owner *owner = atomic_load_explicit(&ctx->owner, memory_order_relaxed);
    bool foreign = owner != NULL && owner != carry__self.owner;
    uint64_t left;
    /* The last reference of a foreign context leaves it queued in the same
     * step: the owner settles only a context whose refs are exactly zero,
     * so it cannot kill (and reuse) this one while this thread still
     * hands it over. */
    do {
        if (unit == CARRY__REF_HANDLE && (old & CARRY__REF_COUNTS) < CARRY__REF_HANDLE)
            return false;
        /* A request being renewed counts down from RENEWING the reference
         * its fd gives back meanwhile (context.h). */
        CARRY__INVARIANT((old & CARRY__REF_COUNTS) >= unit ||
                             (old & CARRY__REF_RENEWING) == CARRY__REF_RENEWING,
                         "a reference let go of twice");
        left = old - unit;
    } while (!atomic_compare_exchange_weak_explicit(
        &ctx->refs, &old, left == 0 && foreign ? CARRY__REF_QUEUED : left, memory_order_acq_rel,
        memory_order_relaxed));
    if (left != 0)
        return true;
    if (foreign)
        carry__ctx_hand_over(ctx, owner);
    else if (ctx->biased == 0)
        carry__ctx_settle(ctx);
    return true;
}

/* Most puts leave references: those need not know the owner. */
bool carry__ctx_put(carry_ctx *ctx, uint64_t unit)
{
    uint64_t old = atomic_load_explicit(&ctx->refs, memory_order_relaxed);
    do {
        if (old - unit == 0 || (old & CARRY__REF_COUNTS) < unit)
            return carry__ctx_put_last(ctx, unit, old);
    } while (!atomic_compare_exchange_weak_explicit(&ctx->refs, &old, old - unit,
                                                    memory_order_acq_rel, memory_order_relaxed));
    return true;
}

carry_ctx *carry__slot_take(carry__slot *slot)
{
    for (unsigned spins = 0;; spins++) {
        carry_ctx *ctx = atomic_load_explicit(slot, memory_order_acquire);
        if (ctx == NULL)
            return NULL;
        /* The slot may have let go of ctx meanwhile, or its owner be
         * renewing it (carry__ctx_renew_begin). */
        if (!carry__ctx_try_ref(ctx)) {
            carry__spin_backoff(spins);
            continue;
        }
        /* Still the slot's?  Then it is the context the slot holds now
         * (even if it died and was reused in between: the slot keeps it). */
        if (atomic_load_explicit(slot, memory_order_acquire) == ctx)
            return ctx;
        carry__ctx_unref(ctx);
    }
}

void carry__slot_store(carry__slot *slot, carry_ctx *ctx)
{
    if (ctx != NULL)
        carry__ctx_ref(ctx);
    carry_ctx *old = atomic_exchange_explicit(slot, ctx, memory_order_acq_rel);
    if (old != NULL)
        carry__ctx_unref(old);
}

carry_ctx *carry__ctx_handle(carry_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, CARRY__REF_HANDLE, memory_order_relaxed);
    return ctx;
}

static void carry__bad_release(carry_ctx *ctx, const char *why)
{
    carry__warn("carry_release(%p): %s; call ignored", (void *)ctx, why);
    if (carry__config.debug >= 3)
        abort();
}

void carry__ctx_release_handle(carry_ctx *ctx)
{
    if (!carry__ctx_alive(ctx))
        carry__bad_release(ctx, "the context is already dead (released twice?)");
    else if (!carry__ctx_put(ctx, CARRY__REF_HANDLE))
        carry__bad_release(ctx, "more releases than captures of this context");
}

/* Derived keys are formatted without stdio: a request may read them on
 * every turn of every connection. */
static size_t carry__format_decimal(char out[10], uint32_t v)
{
    char digits[10];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

void carry__ctx_keep_addresses(carry_ctx *ctx, const struct sockaddr *peer, socklen_t peer_len,
                               const struct carry__sockaddr *local)
{
    socklen_t local_len = local != NULL ? local->len : 0;
    char *addrs = carry__store_add_hidden(&ctx->store, carry__addrs_size(peer_len, local_len));
    if (addrs != NULL)
        carry__addrs_pack(addrs, peer, peer_len,
                          local != NULL ? (const struct sockaddr *)&local->ss : NULL, local_len);
}

void carry__ctx_keep_http(carry_ctx *req, const struct carry__http_head *h)
{
    char *kept = carry__store_add_hidden(&req->store, carry__http_kept_size(h));
    if (kept != NULL)
        carry__http_keep(kept, h);
}

/*
 * A store's hidden entry is what a context keeps raw for its derived keys:
 * a connection's or datagram's addresses (addr.h), a request's HTTP keys
 * (http.h).  A request is the context with a link.
 */

/* ctx's derived keys: its trace identity's; a request's place on its
 * connection; a connection's or datagram's addresses; a request's HTTP
 * keys, in the order of carry__http_key. */
enum carry__derived {
    CARRY__NOT_DERIVED,
    CARRY__TRACE_ID,
    CARRY__SPAN_ID,
    CARRY__CONN,
    CARRY__SEQ,
    CARRY__PEER,
    CARRY__LOCAL,
    CARRY__HTTP_METHOD,
    CARRY__HTTP_TARGET,
    CARRY__REQUEST_ID,
    CARRY__TRACEPARENT,
};

/* Which of ctx's derived keys key is.  A switch on the first byte: a miss
 * of the program's own key costs one or two compares. */
static inline __attribute__((always_inline)) enum carry__derived
carry__derived_key(const carry_ctx *ctx, const char *key)
{
    bool request = ctx->parent != NULL;
    switch (key[0]) {
    case 't':
        if (strcmp(key, "trace_id") == 0)
            return CARRY__TRACE_ID;
        return request && strcmp(key, "traceparent") == 0 ? CARRY__TRACEPARENT : CARRY__NOT_DERIVED;
    case 'h':
        if (!request || strncmp(key, "http.", 5) != 0)
            return CARRY__NOT_DERIVED;
        if (strcmp(key + 5, "method") == 0)
            return CARRY__HTTP_METHOD;
        return strcmp(key + 5, "target") == 0 ? CARRY__HTTP_TARGET : CARRY__NOT_DERIVED;
    case 'r':
        return request && strcmp(key, "request_id") == 0 ? CARRY__REQUEST_ID : CARRY__NOT_DERIVED;
    case 's':
        if (strcmp(key, "span_id") == 0)
            return CARRY__SPAN_ID;
        return request && strcmp(key, "seq") == 0 ? CARRY__SEQ : CARRY__NOT_DERIVED;
    case 'c':
        return request && strcmp(key, "conn") == 0 ? CARRY__CONN : CARRY__NOT_DERIVED;
    case 'p':
        return !request && strcmp(key, "peer") == 0 ? CARRY__PEER : CARRY__NOT_DERIVED;
    case 'l':
        return !request && strcmp(key, "local") == 0 ? CARRY__LOCAL : CARRY__NOT_DERIVED;
    default:
        return CARRY__NOT_DERIVED;
    }
}

/* The value of which, a derived key ctx keeps raw (a connection's or
 * datagram's address, formatted in buf, of CARRY__ADDR_MAX bytes; a
 * request's HTTP key as its head gave it), and its length in *len; NULL
 * when ctx has none, or which is no such key. */
static const char *carry__ctx_kept(carry_ctx *ctx, enum carry__derived which, char *buf,
                                   size_t *len)
{
    const char *hidden = carry__store_hidden(&ctx->store);
    if (hidden == NULL)
        return NULL;
    if ((which == CARRY__PEER || which == CARRY__LOCAL) && ctx->parent == NULL) {
        *len = carry__addrs_format(hidden, which == CARRY__LOCAL, buf);
        return *len > 0 ? buf : NULL;
    }
    if (which < CARRY__HTTP_METHOD || ctx->parent == NULL)
        return NULL;
    const char *value =
        carry__http_kept(hidden, (enum carry__http_key)(which - CARRY__HTTP_METHOD));
    if (value != NULL)
        *len = strlen(value);
    return value;
}

/* key, which ctx's store misses and which may be one of its derived keys:
 * a derived key is written into the store, so that the pointer stays
 * valid, and its value returned, or NULL (no address, or out of memory:
 * the key reads as absent); an HTTP key the request's head did not have,
 * and any other key, is the connection's.  Apart, with its buffer: a
 * miss of a program's key needs neither. */
static __attribute__((noinline)) const char *carry__ctx_derive(carry_ctx *ctx, const char *key)
{
    char text[CARRY__ADDR_MAX];
    size_t len = 16;
    enum carry__derived which = carry__derived_key(ctx, key);
    switch (which) {
    case CARRY__NOT_DERIVED:
        return ctx->parent != NULL ? carry__ctx_get(ctx->parent, key) : NULL;
    case CARRY__TRACE_ID:
        carry__hex16(text, carry__trace_hi(&ctx->trace));
        carry__hex16(text + 16, carry__trace_lo(&ctx->trace));
        len = 32;
        break;
    case CARRY__SPAN_ID:
        carry__hex16(text, ctx->id);
        break;
    case CARRY__CONN:
        carry__hex16(text, ctx->parent->id);
        break;
    case CARRY__SEQ:
        len = carry__format_decimal(text, ctx->seq);
        break;
    default: {
        const char *kept = carry__ctx_kept(ctx, which, text, &len);
        if (kept == NULL)
            return which >= CARRY__HTTP_METHOD ? carry__ctx_get(ctx->parent, key) : NULL;
        return carry__store_add_missing(&ctx->store, &ctx->lock, key, kept, len);
    }
    }
    return carry__store_add_missing(&ctx->store, &ctx->lock, key, text, len);
}

/* May a key that starts with c be derived (the first bytes of the names
 * carry__derived_key knows)?  A program's own key rarely: its miss makes
 * no frame. */
static inline bool carry__derivable(char c)
{
    const uint32_t initials = 1u << ('c' - 'c') | 1u << ('h' - 'c') | 1u << ('l' - 'c') |
                              1u << ('p' - 'c') | 1u << ('r' - 'c') | 1u << ('s' - 'c') |
                              1u << ('t' - 'c');
    unsigned i = (unsigned char)c - 'c';
    return i < 32 && (initials >> i & 1);
}

const char *carry__ctx_get_missed(void *arg, const char *key)
{
    carry_ctx *ctx = arg;
    if (carry__derivable(key[0]))
        return carry__ctx_derive(ctx, key);
    return ctx->parent != NULL ? carry__ctx_get(ctx->parent, key) : NULL;
}

/* Where carry__ctx_unread finds a key its store misses. */
struct carry__unread {
    carry_ctx *ctx;
    char *buf;
    const char *value;
};

static const char *carry__ctx_unread_missed(void *arg, const char *key)
{
    struct carry__unread *u = arg;
    size_t len;
    u->value = carry__ctx_kept(u->ctx, carry__derived_key(u->ctx, key), u->buf, &len);
    return NULL;
}

const char *carry__ctx_unread(carry_ctx *ctx, const char *key, char *buf)
{
    struct carry__unread u = {ctx, buf, NULL};
    carry__store_get_else(&ctx->store, key, carry__ctx_unread_missed, &u);
    return u.value;
}

const char *carry__ctx_get_derived(carry_ctx *ctx, const char *key)
{
    return carry__store_get_else(&ctx->store, key, carry__ctx_get_missed, ctx);
}

int carry__ctx_unset(carry_ctx *ctx, const char *key)
{
    /* Written first, so that the entry unset is the one reads find. */
    carry__ctx_get(ctx, key);
    return carry__store_unset(&ctx->store, &ctx->lock, key);
}

uint64_t carry__ctx_live(void)
{
    return atomic_load_explicit(&carry__live, memory_order_relaxed);
}

bool carry__ctx_ever(void)
{
    return atomic_load_explicit(&carry__ever, memory_order_relaxed);
}

/* The owners must be whole in the child: hold their lock across fork
 * (the pools hold theirs, pool.c).  Store locks need no such care (see
 * lock.c). */
void carry__ctx_atfork_prepare(void)
{
    carry__spin_lock(&carry__owners_lock);
}

void carry__ctx_atfork_parent(void)
{
    carry__spin_unlock(&carry__owners_lock);
}

/* A forked child's copy of a span its parent sends. */
static void carry__ctx_span_forget(void *obj, void *arg)
{
    (void)arg;
    __atomic_store_n(&((carry_ctx *)obj)->trace.start_ns, 0, __ATOMIC_RELAXED);
}

/* A context a thread of the parent was renewing when the process forked
 * (its refs RENEWING, or one less if the fd let go of it meanwhile): the
 * child gets its references back, its record as it was then; without the
 * fd's, it stays unreachable (freeing it here would take the owners'
 * lock, which the child holds until the end of carry__ctx_atfork_child). */
static void carry__ctx_renew_abandoned(void *obj, void *arg)
{
    (void)arg;
    carry_ctx *ctx = obj;
    uint64_t refs = atomic_load_explicit(&ctx->refs, memory_order_relaxed);
    if (refs >= CARRY__REF_RENEWING - CARRY__REF_INTERNAL)
        atomic_store_explicit(&ctx->refs, refs - (CARRY__REF_RENEWING - CARRY__REF_INTERNAL),
                              memory_order_relaxed);
}

void carry__ctx_atfork_child(void)
{
    carry__ctx_each(carry__ctx_renew_abandoned, NULL);
    atomic_store(&carry__id_prefix, 0);
    atomic_store(&carry__id_counter, 1);
    carry__self.id_next = carry__self.id_limit = 0;
    /* The requests begun before the fork are the parent's spans: the child
     * (one thread, here) sends none of them again under their ids. */
    if (carry__export_on())
        carry__ctx_each(carry__ctx_span_forget, NULL);
    /* The other threads are gone: contexts they owned die with their last
     * reference, and what was queued to them stays (in the child's copy
     * of memory only; their threads may have been running in them). */
    struct carry__owner *others = NULL;
    for (struct carry__owner *o = carry__owners; o != NULL; o = o->next_all)
        if (o != carry__self.owner && atomic_load(&o->queue) != CARRY__OWNER_GONE) {
            atomic_store(&o->queue, CARRY__OWNER_GONE);
            o->next_ended = others;
            others = o;
        }
    carry__spin_unlock(&carry__owners_lock);
    while (others != NULL) {
        struct carry__owner *o = others;
        others = o->next_ended;
        if (atomic_fetch_or(&o->contexts, CARRY__OWNER_ENDED) == 0)
            carry__owner_unlink(o);
    }
}
