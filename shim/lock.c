/* The fork-aware spin lock of lock.h. */
#include <sched.h>

#include "lock.h"

_Atomic uint16_t carry__fork_generation = 1;
__thread unsigned carry__locks_held __attribute__((tls_model("initial-exec")));

void carry__spin_lock_held(carry__spin *lock)
{
    uint16_t mine = atomic_load_explicit(&carry__fork_generation, memory_order_relaxed);
    for (unsigned spins = 0;; spins++) {
        uint16_t seen = 0;
        if (atomic_compare_exchange_weak_explicit(lock, &seen, mine, memory_order_acquire,
                                                  memory_order_relaxed))
            break;
        /* Held since before this process forked: its holder is gone. */
        if (seen != 0 && seen != mine &&
            atomic_compare_exchange_strong_explicit(lock, &seen, mine, memory_order_acquire,
                                                    memory_order_relaxed))
            break;
        carry__spin_backoff(spins);
    }
    CARRY__TSAN_ACQUIRE(lock);
}

void carry__spin_backoff(unsigned spins)
{
    if (spins < 64)
        __builtin_ia32_pause();
    else
        sched_yield(); /* The holder was preempted: let it run. */
}
