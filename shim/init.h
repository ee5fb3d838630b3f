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

/* The features a hot path does more for, decided at start-up (0 before):
 * one load tells a request's turn that it has none of them to serve. */
enum {
    CARRY__RARE_STATS = 1u << 0,  /* CARRY_STATS counts */
    CARRY__RARE_EXPORT = 1u << 1, /* spans are exported (rule O) */
    CARRY__RARE_DEBUG = 1u << 2,  /* CARRY_DEBUG logs requests (3) */
};
extern _Atomic unsigned carry__rare;

/* The rules carry propagates in this program, once started: the mode's,
 * or none when carry is passive here; 0 before. */
extern _Atomic unsigned carry__rules;
bool carry__on_slow(unsigned rule);

/* True when carry propagates rule in this program: one load once started. */
static inline bool carry__on(unsigned rule)
{
    if (CARRY__LIKELY(atomic_load_explicit(&carry__rules, memory_order_acquire) & rule))
        return true;
    return carry__on_slow(rule);
}

#endif /* CARRY_INIT_H */
