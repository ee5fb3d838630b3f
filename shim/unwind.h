/* Backtraces for crash reports, through libunwind (unwind.c). */
#ifndef CARRY_UNWIND_H
#define CARRY_UNWIND_H

#include <ucontext.h>

#include "common.h"
#include "out.h"

/* Opens libunwind; without it, reports say there is no backtrace.  Not
 * signal-safe: once, at start-up. */
void carry__unwind_load(void);

/* "carry: backtrace:", then one line per frame of the code uc interrupted.
 * Signal-safe. */
void carry__unwind_report(struct carry__out *o, ucontext_t *uc);

#endif /* CARRY_UNWIND_H */
