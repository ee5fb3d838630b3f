/*
 * Start-up (init.c).  Wrappers may run before libcarry's constructor
 * (other libraries' constructors create threads too), so every entry point
 * of hooks.c calls carry__ensure_init() and the first caller does the work.
 * The modules below hooks.c never ask: hooks.c only calls them once
 * carry is started and the rule they serve is on.
 */
#ifndef CARRY_INIT_H
#define CARRY_INIT_H

#include "common.h"
#include "config.h"

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
    return carry__config.active && (carry__config.mode & rule) != 0;
}

#endif /* CARRY_INIT_H */
