/*
 * Crash reports (CARRY_CRASH).  On SIGSEGV, SIGBUS, SIGILL, SIGFPE and
 * SIGABRT in a process that has had a context, carry's handler writes the
 * signal, the thread, the current context with its keys and a backtrace
 * to stderr, then does what the program asked for: runs the program's
 * handler, or dies of the signal as the program would have.  The program's
 * dispositions are kept by sigdisp.c, the report is written with out.c,
 * the backtrace by unwind.c.
 *
 * What the handler runs is async-signal-safe: raw system calls, no malloc,
 * no stdio, no lock that the interrupted code can hold.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "context.h"
#include "crash.h"
#include "current.h"
#include "out.h"
#include "sigdisp.h"
#include "store.h"
#include "sys.h"
#include "unwind.h"

#define CARRY__FATAL \
    ((1u << SIGSEGV) | (1u << SIGBUS) | (1u << SIGILL) | (1u << SIGFPE) | (1u << SIGABRT))
#define CARRY__ALTSTACK (128 * 1024)
#define CARRY__KEYS 64

/*
 * Who reports: the pid in the high half (a forked child starts afresh), the
 * reporting thread's tid in the low half, or 0 once the report is written.
 * One report per process.
 */
static _Atomic uint64_t carry__report_state;

static void carry__crash_handler(int sig, siginfo_t *info, void *context);

bool carry__crash_reporting(void)
{
    uint64_t state = atomic_load_explicit(&carry__report_state, memory_order_acquire);
    return (uint32_t)state != 0 && (uint32_t)state == (uint32_t)carry__sys(SYS_gettid) &&
           state >> 32 == (uint64_t)getpid();
}

/* ---- Start-up ------------------------------------------------------------ */

/* The main thread gets an alternate signal stack, so that a stack overflow
 * there is reported too; other threads die of one as they would without
 * carry (an alternate stack per thread would cost every pthread_create). */
static void carry__altstack(void)
{
    stack_t now;
    if (carry__sys(SYS_gettid) != getpid() || sigaltstack(NULL, &now) != 0 ||
        !(now.ss_flags & SS_DISABLE))
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, page + CARRY__ALTSTACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return;
    mprotect(mem, page, PROT_NONE); /* a guard below it */
    stack_t ss = {.ss_sp = mem + page, .ss_size = CARRY__ALTSTACK, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        munmap(mem, page + CARRY__ALTSTACK);
}

void carry__crash_start(void)
{
    int saved_errno = errno;
    /* A passive program runs as if carry were not loaded.  CARRY_MODE=off
     * keeps reports: the API's explicit contexts still exist there. */
    bool on = carry__config.active && carry__config.crash;
    if (on)
        carry__unwind_load();
    carry__sigdisp_start(on ? CARRY__FATAL : 0, carry__crash_handler);
    if (on)
        carry__altstack();
    errno = saved_errno;
}

/* ---- Writing the report -------------------------------------------------- */

static const char *const carry__segv_codes[] = {NULL, "SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR",
                                                "SEGV_PKUERR"};
static const char *const carry__bus_codes[] = {NULL, "BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR",
                                               "BUS_MCEERR_AR", "BUS_MCEERR_AO"};
static const char *const carry__ill_codes[] = {NULL, "ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR",
                                               "ILL_ILLTRP", "ILL_PRVOPC", "ILL_PRVREG",
                                               "ILL_COPROC", "ILL_BADSTK"};
static const char *const carry__fpe_codes[] = {NULL, "FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV",
                                               "FPE_FLTOVF", "FPE_FLTUND", "FPE_FLTRES",
                                               "FPE_FLTINV", "FPE_FLTSUB"};

static const struct {
    const char *name;
    const char *const *codes;
    size_t n_codes;
    bool address; /* si_addr is the faulting address */
} carry__signals[CARRY__SIGDISP_SLOTS] = {
    [SIGSEGV] = {"SIGSEGV", carry__segv_codes, CARRY__COUNT(carry__segv_codes), true},
    [SIGBUS] = {"SIGBUS", carry__bus_codes, CARRY__COUNT(carry__bus_codes), true},
    [SIGILL] = {"SIGILL", carry__ill_codes, CARRY__COUNT(carry__ill_codes), false},
    [SIGFPE] = {"SIGFPE", carry__fpe_codes, CARRY__COUNT(carry__fpe_codes), false},
    [SIGABRT] = {"SIGABRT", NULL, 0, false},
};

/* "carry: fatal signal SIGSEGV (11, SEGV_MAPERR, address 0x10)" */
static void carry__report_signal(struct carry__out *o, int sig, const siginfo_t *info)
{
    int code = info->si_code;
    carry__out(o, "carry: fatal signal ");
    carry__out(o, carry__signals[sig].name);
    carry__out(o, " (");
    carry__out_dec(o, sig);
    carry__out(o, ", ");
    if (code > 0 && (size_t)code < carry__signals[sig].n_codes) {
        carry__out(o, carry__signals[sig].codes[code]);
        if (carry__signals[sig].address) {
            carry__out(o, ", address 0x");
            carry__out_hex(o, (uintptr_t)info->si_addr, 1);
        }
    } else if (code == SI_USER || code == SI_TKILL || code == SI_QUEUE) {
        carry__out(o, code == SI_USER ? "SI_USER" : code == SI_TKILL ? "SI_TKILL" : "SI_QUEUE");
        carry__out(o, " from pid ");
        carry__out_dec(o, info->si_pid);
    } else if (code == SI_KERNEL) {
        carry__out(o, "SI_KERNEL");
    } else {
        carry__out(o, "code ");
        carry__out_dec(o, code);
    }
    carry__out(o, ")");
    carry__out_end(o);
}

static void carry__report_key(struct carry__out *o, const char *key, const char *value)
{
    carry__out(o, "carry:   ");
    carry__out_text(o, key);
    carry__out(o, "=");
    carry__out_text(o, value);
    carry__out_end(o);
}

/* A context's keys, oldest first: those it keeps raw (its addresses, a
 * request's HTTP keys), unless read (then in its store), then its store's
 * (at most CARRY__KEYS of the newest). */
static void carry__report_keys(struct carry__out *o, carry_ctx *ctx)
{
    static const char *const kept[] = {"peer", "local", "http.method", "http.target",
                                       "request_id", "traceparent"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        char buf[CARRY__ADDR_MAX];
        const char *value = carry__ctx_unread(ctx, kept[i], buf);
        if (value != NULL)
            carry__report_key(o, kept[i], value);
    }
    const char *keys[CARRY__KEYS], *values[CARRY__KEYS];
    size_t n = carry__store_list(&ctx->store, keys, values, CARRY__KEYS);
    for (size_t i = n < CARRY__KEYS ? n : CARRY__KEYS; i-- > 0;)
        carry__report_key(o, keys[i], values[i]);
    if (n > CARRY__KEYS) {
        carry__out(o, "carry:   (");
        carry__out_dec(o, (int64_t)(n - CARRY__KEYS));
        carry__out(o, " older keys not shown)");
        carry__out_end(o);
    }
}

/* "carry: context <id>", then "carry:   key=value" oldest first; for a
 * request, then "carry: request <seq> of connection <id>" and the
 * connection's keys. */
static void carry__report_context(struct carry__out *o)
{
    carry_ctx *ctx = carry__current();
    carry__out(o, "carry: context ");
    if (ctx == NULL) {
        carry__out(o, "0000000000000000 (none)");
        carry__out_end(o);
        return;
    }
    if (!carry__ctx_alive(ctx)) {
        carry__out(o, "at 0x");
        carry__out_hex(o, (uintptr_t)ctx, 1);
        carry__out(o, " is not alive");
        carry__out_end(o);
        return;
    }
    carry__out_hex(o, ctx->id, 16);
    carry__out_end(o);
    carry__report_keys(o, ctx);
    if (ctx->parent != NULL) {
        carry__out(o, "carry: request ");
        carry__out_dec(o, ctx->seq);
        carry__out(o, " of connection ");
        carry__out_hex(o, ctx->parent->id, 16);
        carry__out_end(o);
        carry__report_keys(o, ctx->parent);
    }
}

static void carry__report(int sig, const siginfo_t *info, ucontext_t *uc, long pid, long tid,
                          bool handler)
{
    struct carry__out o;
    carry__out_start(&o);
    sigset_t pending;
    sigemptyset(&pending);
    carry__sys(SYS_rt_sigpending, &pending, CARRY__KERNEL_SIGSET);
    carry__report_signal(&o, sig, info);
    char name[17] = "";
    carry__sys(SYS_prctl, PR_GET_NAME, name, 0, 0, 0);
    carry__out(&o, "carry: process ");
    carry__out_dec(&o, pid);
    carry__out(&o, ", thread ");
    carry__out_dec(&o, tid);
    carry__out(&o, " \"");
    carry__out_text(&o, name);
    carry__out(&o, "\"");
    carry__out_end(&o);
    carry__report_context(&o);
    carry__unwind_report(&o, uc);
    carry__out(&o, handler ? "carry: end of crash report; the program's handler runs next"
                           : "carry: end of crash report; the process dies of ");
    if (!handler)
        carry__out(&o, carry__signals[sig].name);
    carry__out_end(&o);
    /* stderr is a pipe nobody reads: the SIGPIPE is carry's, not the
     * program's, and must not kill it once its mask comes back. */
    if (o.broken && !sigismember(&pending, SIGPIPE)) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        struct timespec now = {0, 0};
        carry__sys(SYS_rt_sigtimedwait, &pipe, NULL, &now, CARRY__KERNEL_SIGSET);
    }
}

/* ---- The handler --------------------------------------------------------- */

enum { CARRY__REPORT, CARRY__REPORTED, CARRY__REENTERED, CARRY__NOTHING_TO_SAY };

static int carry__claim(long pid, long tid)
{
    uint64_t mine = (uint64_t)pid << 32 | (uint32_t)tid;
    for (;;) {
        uint64_t seen = atomic_load_explicit(&carry__report_state, memory_order_acquire);
        if (seen >> 32 != (uint64_t)pid) {
            if (atomic_compare_exchange_weak_explicit(&carry__report_state, &seen, mine,
                                                      memory_order_acquire, memory_order_relaxed))
                return CARRY__REPORT;
            continue;
        }
        if ((uint32_t)seen == 0)
            return CARRY__REPORTED;
        if ((uint32_t)seen == (uint32_t)tid)
            return CARRY__REENTERED;
        /* Another thread is writing its report: let it finish. */
        struct timespec ms = {0, 1000000};
        carry__sys(SYS_nanosleep, &ms, NULL);
    }
}

/* Runs the program's handler as the kernel would have: with its mask added
 * to the interrupted code's, and with errno as the interrupted code left
 * it.  When it returns, so does carry's handler. */
static void carry__chain(const struct sigaction *prog, int sig, siginfo_t *info, ucontext_t *uc,
                         int saved_errno)
{
    sigset_t mask = uc->uc_sigmask;
    sigorset(&mask, &mask, &prog->sa_mask);
    if (!(prog->sa_flags & SA_NODEFER))
        sigaddset(&mask, sig);
    carry__sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, CARRY__KERNEL_SIGSET);
    errno = saved_errno;
    if (prog->sa_flags & SA_SIGINFO)
        prog->sa_sigaction(sig, info, uc);
    else
        prog->sa_handler(sig);
}

/* The default action, with the signal's own siginfo: queued again to this
 * thread, it is delivered as the handler returns, with the registers of
 * the interrupted (for a fault: the faulting) instruction, so the exit
 * status and the core dump are the ones the program would have had. */
static void carry__die(int sig, siginfo_t *info, ucontext_t *uc, long pid, long tid)
{
    carry__sigdisp_default(sig);
    siginfo_t again = *info;
    if (carry__sys(SYS_rt_tgsigqueueinfo, pid, tid, sig, &again) != 0)
        carry__sys(SYS_tgkill, pid, tid, sig);
    sigdelset(&uc->uc_sigmask, sig);
}

static void carry__crash_handler(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    ucontext_t *uc = context;
    struct sigaction prog = carry__sigdisp_deliver(sig);
    bool handler = carry__sigdisp_is_handler(&prog);

    /* Ignored and sent by someone (kill, raise): nothing happens.  Only a
     * race with the program's own sigaction gets here; a fault that is
     * ignored kills, as the kernel would. */
    if (prog.sa_handler == SIG_IGN && info->si_code <= 0) {
        errno = saved_errno;
        return;
    }
    long pid = getpid(), tid = carry__sys(SYS_gettid);
    /* A process that never had a context (a program that is no server, or
     * one that raises a signal on purpose, as timeout re-raises its
     * child's) has no request to name: no report, only the program's own
     * handling of the signal. */
    switch (carry__ctx_ever() ? carry__claim(pid, tid) : CARRY__NOTHING_TO_SAY) {
    case CARRY__REPORT:
        carry__report(sig, info, uc, pid, tid, handler);
        atomic_store_explicit(&carry__report_state, (uint64_t)pid << 32, memory_order_release);
        break;
    case CARRY__REENTERED:
        /* Called again from inside the report, by code that calls this
         * handler directly (the kernel kills a thread that faults there:
         * every signal is blocked): straight to the default death. */
        handler = false;
        break;
    default:
        break;
    }
    if (handler) {
        carry__chain(&prog, sig, info, uc, saved_errno);
        return;
    }
    carry__die(sig, info, uc, pid, tid);
    errno = saved_errno;
}
