/* Crash reports: CARRY_CRASH (crash.c). */
#ifndef CARRY_CRASH_H
#define CARRY_CRASH_H

#include <signal.h>

#include "common.h"

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

#endif /* CARRY_CRASH_H */
