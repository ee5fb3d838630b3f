/*
 * sigaction and the signal() family, for the fatal signals: carry's crash
 * handler stays installed and the program's disposition is kept beside it
 * (and given back to the program as its own).  The policy is in
 * shim/sigdisp.c.  sigset, sigignore, siginterrupt and abort go to the
 * kernel without these wrappers: the program then gets exactly what it
 * asked for, without a report on that signal.
 */
#include "real.h"

/* Left to TSan alone, as the entry point is: libtsan's start-up calls
 * sigaction before instrumented code can run (see carry__hook_sigaction). */
__attribute__((no_sanitize("thread"))) CARRY__EXPORT int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return carry__hook_sigaction(sig, act, old);
}

CARRY__EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
    return carry__hook_signal(sig, handler, CARRY__REAL(signal));
}

/* glibc's signal under another name; sanitizers intercept signal only. */
CARRY__EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
    return carry__hook_signal(sig, handler, CARRY__REAL(signal));
}

CARRY__EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t handler)
{
    return carry__hook_sysv_signal(sig, handler, CARRY__REAL(sysv_signal));
}

/* What signal() is with strict ISO C feature macros (see <signal.h>). */
CARRY__EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t handler)
{
    return carry__hook_sysv_signal(sig, handler, CARRY__REAL(__sysv_signal));
}
