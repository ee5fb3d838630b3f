/*
 * A spin lock for short critical sections that leave the data they guard
 * consistent at every step.  It stores the fork generation of its holder,
 * so a child process takes over a lock that a thread of its parent held at
 * fork time (that thread does not exist in the child) instead of
 * deadlocking.
 */
#ifndef CARRY_LOCK_H
#define CARRY_LOCK_H

#include "common.h"

/* 16 bits, so that a context fits its lock beside its other fields. */
typedef _Atomic uint16_t carry__spin;

/*
 * Under ThreadSanitizer, carry's wrappers run inside the runtime's own
 * interceptors (its libtsan comes first in LD_PRELOAD), and during a
 * blocking one (read, epoll_wait) the runtime does not treat atomic
 * operations as synchronisation: the lock says what it orders itself.
 */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define CARRY__TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#define CARRY__TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#else
#define CARRY__TSAN_ACQUIRE(addr) ((void)(addr))
#define CARRY__TSAN_RELEASE(addr) ((void)(addr))
#endif

/* Odd, changes in every child after fork (init.c bumps it). */
extern _Atomic uint16_t carry__fork_generation;

/* How many of carry's locks the thread holds.  Not 0 in a wrapper means
 * the wrapper runs in a signal handler that interrupted carry's own code
 * (the core calls no wrapper): what may take a lock the interrupted code
 * holds, or switch the context under it, must then let the call through
 * untouched (carry__locks_busy). */
extern __thread unsigned carry__locks_held __attribute__((tls_model("initial-exec")));

static inline bool carry__locks_busy(void)
{
    return CARRY__UNLIKELY(carry__locks_held != 0);
}

/* carry__spin_lock once the lock was found held. */
void carry__spin_lock_held(carry__spin *lock);

/* Inline: most locks are taken at the first try. */
static inline void carry__spin_lock(carry__spin *lock)
{
    uint16_t free_ = 0;
    carry__locks_held++;
    /* Counted before it is held, for a handler that interrupts this
     * thread. */
    atomic_signal_fence(memory_order_seq_cst);
    if (CARRY__UNLIKELY(!atomic_compare_exchange_weak_explicit(
            lock, &free_, atomic_load_explicit(&carry__fork_generation, memory_order_relaxed),
            memory_order_acquire, memory_order_relaxed))) {
        carry__spin_lock_held(lock);
        return;
    }
    CARRY__TSAN_ACQUIRE(lock);
}

/* One more round of waiting for another thread that holds something for
 * a few instructions: a pause, and after many rounds the CPU given up, in
 * case that thread was preempted. */
void carry__spin_backoff(unsigned spins);

static inline void carry__spin_unlock(carry__spin *lock)
{
    CARRY__TSAN_RELEASE(lock);
    atomic_store_explicit(lock, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    carry__locks_held--;
}

#endif /* CARRY_LOCK_H */
