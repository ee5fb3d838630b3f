/*
 * The program's dispositions of the signals carry's crash handler stands
 * in for (sigdisp.c).  The program never sees that handler: sigaction and
 * the signal() family record the program's disposition here, let
 * the kernel check and normalise it, then put carry's handler back.  A
 * disposition of SIG_IGN stays in the kernel, so that it survives exec as
 * it would without carry.
 */
#ifndef CARRY_SIGDISP_H
#define CARRY_SIGDISP_H

#include <signal.h>

#include "calls.h"
#include "common.h"

#define CARRY__SIGDISP_SLOTS 32 /* signal numbers below this can be taken */

typedef void carry__sigdisp_handler(int sig, siginfo_t *info, void *context);

/* Puts handler in place of the program's disposition of every signal in
 * signals (bit 1 << sig; none when 0), reading what the program set so far
 * from the kernel.  Once, at start-up: until then sigaction and the
 * signal() family go straight to the next definitions. */
void carry__sigdisp_start(uint32_t signals, carry__sigdisp_handler *handler);

/* For the handler: the program's disposition of sig as the kernel applies
 * it to this delivery (a one-shot handler, SA_RESETHAND, is reset). */
struct sigaction carry__sigdisp_deliver(int sig);

/* For the handler: the default action back in the kernel for sig. */
void carry__sigdisp_default(int sig);

/* The program's sigaction, signal (or bsd_signal) and sysv_signal (or
 * __sysv_signal; real NULL when there is none: ENOSYS), as hooks.h's
 * entry points describe them.  sigaction runs no code TSan instruments
 * before start-up and finds the next sigaction itself. */
int carry__sigdisp_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
carry__sighandler *carry__sigdisp_signal(int sig, carry__sighandler *handler,
                                         carry__signal_fn *real);
carry__sighandler *carry__sigdisp_sysv_signal(int sig, carry__sighandler *handler,
                                              carry__signal_fn *real);

static inline bool carry__sigdisp_is_handler(const struct sigaction *a)
{
    return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

#endif /* CARRY_SIGDISP_H */
