/*
 * Rule H's condition variables (dataflow, opt-in).  A condition variable
 * says nothing about the work it hands over, so this is a heuristic: the
 * context current at pthread_cond_signal or _broadcast is recorded for the
 * condition variable, and a thread whose wait on it returns 0 takes it
 * (README: "Condition variables" says when that is wrong).
 *
 * Records live in a fixed table keyed by the condition variable's
 * address, one word each, so that a signal replaces a record and a waiter
 * claims one with a single atomic operation: no allocation, lock or
 * system call per hand-off.  A record holds a reference to its context
 * (in refs) until a waiter takes it over or a newer signal replaces it.
 *
 * A record's word: bits 63-23, the context's address divided by 64
 * (contexts are 64-byte aligned, and user space ends at 2^47 unless a
 * program maps above it on purpose: a context that does not fit is
 * recorded as none); bit 22, made by a broadcast; bits 21-0, the
 * condition variable's tag, never 0, which tells it from the others whose
 * addresses share its slot (0: no record).
 */
#include "condvar.h"
#include "current.h"
#include "stats.h"

#define CARRY__CV_SLOTS 256 /* a power of two: the top 8 bits of the hash pick one */
#define CARRY__CV_TAG ((UINT64_C(1) << 22) - 1)
#define CARRY__CV_BROADCAST (UINT64_C(1) << 22)
#define CARRY__CV_CTX_SHIFT 23

/* A cache line each: condition variables of different pools signalled at
 * once do not share a line. */
static struct {
    _Atomic uint64_t record;
} __attribute__((aligned(64))) carry__cv_table[CARRY__CV_SLOTS];

struct carry__cv_key {
    _Atomic uint64_t *record; /* its slot */
    uint64_t tag;
};

static inline struct carry__cv_key carry__cv_key(const void *cond)
{
    uint64_t h = (uint64_t)(uintptr_t)cond * UINT64_C(0x9e3779b97f4a7c15);
    uint64_t tag = (h >> 32) & CARRY__CV_TAG;
    return (struct carry__cv_key){&carry__cv_table[h >> 56].record, tag != 0 ? tag : 1};
}

static inline carry_ctx *carry__cv_ctx(uint64_t record)
{
    return (carry_ctx *)(uintptr_t)((record >> CARRY__CV_CTX_SHIFT) << 6);
}

/* The record of ctx for the key's condition variable, or 0 if ctx cannot
 * be recorded. */
static inline uint64_t carry__cv_record(carry_ctx *ctx, struct carry__cv_key key, bool broadcast)
{
    uintptr_t addr = (uintptr_t)ctx;
    if (ctx == NULL || (addr & 63) != 0 || addr >> 47 != 0)
        return 0;
    return ((uint64_t)addr >> 6) << CARRY__CV_CTX_SHIFT | (broadcast ? CARRY__CV_BROADCAST : 0) |
           key.tag;
}

/* A record replaced: a signal's that no waiter took (taking clears it),
 * merged into what replaced it; a broadcast's, which waiters may have
 * taken, simply ends. */
static void carry__cv_drop(uint64_t record)
{
    if (record == 0)
        return;
    if (!(record & CARRY__CV_BROADCAST))
        carry__count(&carry__stats.condvar_merged);
    carry__ctx_unref(carry__cv_ctx(record));
}

void carry__cv_signal(const void *cond, bool broadcast)
{
    struct carry__cv_key key = carry__cv_key(cond);
    carry_ctx *ctx = carry__current();
    uint64_t record = carry__cv_record(ctx, key, broadcast);
    uint64_t old;
    if (record != 0) {
        carry__ctx_ref(ctx);
        old = atomic_exchange_explicit(key.record, record, memory_order_acq_rel);
    } else {
        /* None: only this condition variable's record goes. */
        old = atomic_load_explicit(key.record, memory_order_relaxed);
        do {
            if ((old & CARRY__CV_TAG) != key.tag)
                return;
        } while (!atomic_compare_exchange_weak_explicit(key.record, &old, 0, memory_order_acquire,
                                                        memory_order_relaxed));
    }
    carry__cv_drop(old);
}

uint64_t carry__cv_waiting(const void *cond)
{
    return atomic_load_explicit(carry__cv_key(cond).record, memory_order_relaxed);
}

/* A new reference to a broadcast's context while its slot still holds
 * record, else NULL: carry__slot_take's protocol on a record's word (the
 * context may have been let go of and reused meanwhile; pool memory is
 * never freed, and a dead context is not revived). */
static carry_ctx *carry__cv_share(_Atomic uint64_t *slot, uint64_t record)
{
    carry_ctx *ctx = carry__cv_ctx(record);
    if (!carry__ctx_try_ref(ctx))
        return NULL;
    if (atomic_load_explicit(slot, memory_order_acquire) == record)
        return ctx;
    carry__ctx_unref(ctx);
    return NULL;
}

void carry__cv_woken(const void *cond, uint64_t seen)
{
    struct carry__cv_key key = carry__cv_key(cond);
    uint64_t record = atomic_load_explicit(key.record, memory_order_acquire);
    carry_ctx *ctx = NULL;
    while (ctx == NULL) {
        if (record == seen || (record & CARRY__CV_TAG) != key.tag) {
            carry__count(&carry__stats.condvar_none);
            return;
        }
        if (record & CARRY__CV_BROADCAST) {
            ctx = carry__cv_share(key.record, record);
            if (ctx == NULL)
                record = atomic_load_explicit(key.record, memory_order_acquire);
        } else if (atomic_compare_exchange_weak_explicit(key.record, &record, 0,
                                                         memory_order_acquire,
                                                         memory_order_acquire)) {
            ctx = carry__cv_ctx(record);
        }
    }
    carry__count(&carry__stats.condvar_handoffs);
    carry__current_adopt(carry__ctx_localize(ctx));
}
