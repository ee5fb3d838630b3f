/*
 * sigaction and the signal() family, for the fatal signals: carry's crash
 * handler stays installed and the program's disposition is kept beside it
 * (and given back to the program as its own).  The policy is in
 * shim/crash.c.  sigset, sigignore, siginterrupt and abort go to the
 * kernel without these wrappers: the program then gets exactly what it
 * asked for, without a report on that signal.
 */
#include <dlfcn.h>

#include "real.h"
/* Until crash start-up moves behind hooks.h. */
#include "../shim/crash.h"
#include "../shim/init.h"

__attribute__((constructor)) static void carry__signal_start(void)
{
    carry__crash_start(CARRY__REAL(sigaction));
}

/* Until carry has started, straight to the next sigaction, in code that
 * TSan leaves alone: a TSan-built libcarry preloaded into a program built
 * without TSan brings libtsan in, whose start-up calls sigaction before
 * instrumented code can run. */
__attribute__((no_sanitize("thread"))) CARRY__EXPORT int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!atomic_load_explicit(&carry__crash_started, memory_order_acquire))
        return ((carry__sigaction_fn *)dlsym(RTLD_NEXT, "sigaction"))(sig, act, old);
    if (!carry__crash_owns(sig))
        return CARRY__REAL(sigaction)(sig, act, old);
    return carry__crash_sigaction(sig, act, old);
}

static bool carry__owns(int sig)
{
    return atomic_load_explicit(&carry__crash_started, memory_order_acquire) &&
           carry__crash_owns(sig);
}

/* bsd_signal is glibc's signal under another name; sanitizers intercept
 * signal only. */
static __sighandler_t carry__bsd_signal(int sig, __sighandler_t handler)
{
    if (!carry__owns(sig))
        return CARRY__REAL(signal)(sig, handler);
    return carry__crash_signal(sig, handler, CARRY__REAL(signal));
}

CARRY__EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
    return carry__bsd_signal(sig, handler);
}

CARRY__EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t handler)
{
    return carry__bsd_signal(sig, handler);
}

static __sighandler_t carry__sysv_signal(int sig, __sighandler_t handler, carry__signal_fn *real)
{
    if (carry__owns(sig))
        return carry__crash_sysv_signal(sig, handler);
    if (real == NULL) { /* optional: glibc's */
        errno = ENOSYS;
        return SIG_ERR;
    }
    return real(sig, handler);
}

CARRY__EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t handler)
{
    return carry__sysv_signal(sig, handler, CARRY__REAL(sysv_signal));
}

/* What signal() is with strict ISO C feature macros (see <signal.h>). */
CARRY__EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t handler)
{
    return carry__sysv_signal(sig, handler, CARRY__REAL(__sysv_signal));
}
