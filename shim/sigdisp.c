/*
 * The program's dispositions of the signals carry's handler stands in for;
 * see sigdisp.h.
 */
#include <dlfcn.h>
#include <string.h>

#include "lock.h"
#include "sigdisp.h"
#include "sys.h"

typedef int carry__sigaction_fn(int sig, const struct sigaction *act, struct sigaction *old);

/* The next sigaction (libc's, or a sanitizer's), found here rather than
 * through the wrappers' table: see carry__sigdisp_sigaction. */
static carry__sigaction_fn *carry__next_sigaction;
static _Atomic bool carry__sigdisp_started;
/* Written once, before carry__sigdisp_started. */
static uint32_t carry__taken;
static carry__sigdisp_handler *carry__handler;

/* The program's dispositions of the signals taken, under carry__sig_lock. */
static struct sigaction carry__prog[CARRY__SIGDISP_SLOTS];
static carry__spin carry__sig_lock_word;

/* Set while carry calls the next signal(): one that calls sigaction
 * (a sanitizer's) must reach the next sigaction, not carry's lock again. */
static __thread bool carry__in_signal __attribute__((tls_model("initial-exec")));

/* Every signal is blocked while the lock is held, so a handler never waits
 * for its own thread, and a fault inside (only carry's own code and the
 * next sigaction run there) is a plain default death. */
static void carry__sig_lock(sigset_t *saved)
{
    sigset_t all;
    sigfillset(&all);
    sigemptyset(saved);
    carry__sys(SYS_rt_sigprocmask, SIG_BLOCK, &all, saved, CARRY__KERNEL_SIGSET);
    carry__spin_lock(&carry__sig_lock_word);
}

static void carry__sig_unlock(const sigset_t *saved)
{
    carry__spin_unlock(&carry__sig_lock_word);
    carry__sys(SYS_rt_sigprocmask, SIG_SETMASK, saved, NULL, CARRY__KERNEL_SIGSET);
}

/* carry's handler as the kernel sees it, standing in for prog: it keeps
 * prog's choice of stack and of restarting system calls, and blocks every
 * signal while carry reports (the program's mask is applied before its
 * handler runs). */
static struct sigaction carry__stand_in(const struct sigaction *prog)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = carry__handler;
    sigfillset(&act.sa_mask);
    act.sa_flags = SA_SIGINFO | (carry__sigdisp_is_handler(prog)
                                     ? prog->sa_flags & (SA_ONSTACK | SA_RESTART)
                                     : SA_ONSTACK | SA_RESTART);
    return act;
}

void carry__sigdisp_start(uint32_t signals, carry__sigdisp_handler *handler)
{
    carry__sigaction_fn *next = (carry__sigaction_fn *)dlsym(RTLD_NEXT, "sigaction");
    sigset_t saved;
    carry__sig_lock(&saved);
    carry__next_sigaction = next;
    carry__taken = signals;
    carry__handler = handler;
    for (int sig = 1; sig < CARRY__SIGDISP_SLOTS; sig++) {
        if (!(signals >> sig & 1u) || next(sig, NULL, &carry__prog[sig]) != 0)
            continue;
        if (carry__prog[sig].sa_handler != SIG_IGN) {
            struct sigaction act = carry__stand_in(&carry__prog[sig]);
            next(sig, &act, NULL);
        }
    }
    atomic_store_explicit(&carry__sigdisp_started, true, memory_order_release);
    carry__sig_unlock(&saved);
}

/* True when carry's handler stands in for the program's disposition of
 * sig. */
static bool carry__sigdisp_owns(int sig)
{
    return atomic_load_explicit(&carry__sigdisp_started, memory_order_acquire) && sig > 0 &&
           sig < CARRY__SIGDISP_SLOTS && (carry__taken >> sig & 1u) && !carry__in_signal;
}

struct sigaction carry__sigdisp_deliver(int sig)
{
    sigset_t saved;
    carry__sig_lock(&saved);
    struct sigaction prog = carry__prog[sig];
    if (carry__sigdisp_is_handler(&prog) && (prog.sa_flags & SA_RESETHAND))
        carry__prog[sig].sa_handler = SIG_DFL;
    carry__sig_unlock(&saved);
    return prog;
}

void carry__sigdisp_default(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    carry__next_sigaction(sig, &dfl, NULL);
}

/* The program's sigaction on a signal carry owns. */
static int carry__sigdisp_set(int sig, const struct sigaction *act, struct sigaction *old)
{
    /* Read before the lock: a bad pointer faults as it would natively. */
    struct sigaction want, prev, now;
    if (act != NULL)
        want = *act;
    sigset_t saved;
    carry__sig_lock(&saved);
    /* The real call checks act and stores it as the kernel keeps it. */
    int rc = carry__next_sigaction(sig, act ? &want : NULL, &prev);
    int err = errno;
    if (rc == 0) {
        /* Something that bypasses these wrappers (sigset, sigignore, abort)
         * may have replaced carry's handler: then the kernel has the truth. */
        if (prev.sa_sigaction == carry__handler)
            prev = carry__prog[sig];
        if (act != NULL) {
            if (want.sa_handler == SIG_IGN) {
                carry__next_sigaction(sig, NULL, &now);
            } else {
                struct sigaction ours = carry__stand_in(&want);
                carry__next_sigaction(sig, &ours, &now);
            }
            carry__prog[sig] = now;
        }
    }
    carry__sig_unlock(&saved);
    if (rc == 0 && old != NULL)
        *old = prev;
    errno = err;
    return rc;
}

/* Until carry has started, straight to the next sigaction, in code that
 * TSan leaves alone: a TSan-built libcarry preloaded into a program built
 * without TSan brings libtsan in, whose start-up calls sigaction before
 * instrumented code can run.  (The wrappers' table is not used here for
 * the same reason: binding it runs instrumented code.) */
__attribute__((no_sanitize("thread"))) int
carry__sigdisp_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!atomic_load_explicit(&carry__sigdisp_started, memory_order_acquire))
        return ((carry__sigaction_fn *)dlsym(RTLD_NEXT, "sigaction"))(sig, act, old);
    if (!carry__sigdisp_owns(sig))
        return carry__next_sigaction(sig, act, old);
    return carry__sigdisp_set(sig, act, old);
}

carry__sighandler *carry__sigdisp_signal(int sig, carry__sighandler *handler,
                                         carry__signal_fn *real)
{
    if (!carry__sigdisp_owns(sig))
        return real(sig, handler);
    sigset_t saved;
    carry__sig_lock(&saved);
    /* libc's own signal() builds the action (BSD flags, siginterrupt's
     * choice) and installs it; carry reads it back. */
    carry__in_signal = true;
    carry__sighandler *prev = real(sig, handler);
    carry__in_signal = false;
    int err = errno;
    if (prev != SIG_ERR) {
        if ((void *)prev == (void *)carry__handler)
            prev = carry__prog[sig].sa_handler;
        struct sigaction now;
        carry__next_sigaction(sig, NULL, &now);
        if (now.sa_handler != SIG_IGN) {
            struct sigaction ours = carry__stand_in(&now);
            carry__next_sigaction(sig, &ours, NULL);
        }
        carry__prog[sig] = now;
    }
    carry__sig_unlock(&saved);
    errno = err;
    return prev;
}

/* For a signal carry owns, as glibc's: sigaction with SA_RESETHAND |
 * SA_NODEFER.  Not through the real sysv_signal, which calls libc's
 * sigaction internally, past any sanitizer's. */
carry__sighandler *carry__sigdisp_sysv_signal(int sig, carry__sighandler *handler,
                                              carry__signal_fn *real)
{
    if (!carry__sigdisp_owns(sig)) {
        if (real == NULL) { /* optional: glibc's */
            errno = ENOSYS;
            return SIG_ERR;
        }
        return real(sig, handler);
    }
    if (handler == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    act.sa_flags = SA_RESETHAND | SA_NODEFER | SA_INTERRUPT;
    if (carry__sigdisp_set(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}
