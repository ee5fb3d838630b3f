/* CARRY_STATS counters (stats.h). */
#include <string.h>

#include "stats.h"

_Atomic bool carry__stats_on;
struct carry__stats carry__stats;

void carry__stats_raise(_Atomic uint64_t *most, uint64_t value)
{
    uint64_t seen = atomic_load_explicit(most, memory_order_relaxed);
    while (value > seen && !atomic_compare_exchange_weak_explicit(most, &seen, value,
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed))
        ;
}

void carry__stats_context_born(uint64_t live)
{
    carry__stats_raise(&carry__stats.peak, live);
    atomic_fetch_add_explicit(&carry__stats.created, 1, memory_order_relaxed);
}

void carry__stats_reset(uint64_t live)
{
    memset(&carry__stats, 0, sizeof carry__stats);
    atomic_store_explicit(&carry__stats.peak, live, memory_order_relaxed);
    atomic_store_explicit(&carry__stats.inherited, live, memory_order_relaxed);
}
