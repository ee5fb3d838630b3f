/*
 * Crash reports (CARRY_CRASH).  On SIGSEGV, SIGBUS, SIGILL, SIGFPE and
 * SIGABRT carry's handler writes the signal, the thread, the current
 * context with its keys and a backtrace to stderr, then does what the
 * program asked for: runs the program's handler, or dies of the signal as
 * the program would have.
 *
 * The program never sees carry's handler: sigaction and the signal()
 * family (interpose/signal.c) record the program's disposition here, let
 * the kernel check and normalise it, then put carry's handler back.  A
 * disposition of SIG_IGN stays in the kernel, so that it survives exec as
 * it would without carry.
 *
 * What the handler runs is async-signal-safe: raw system calls, no malloc,
 * no stdio, no lock that the interrupted code can hold.
 */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crash.h"
#include "current.h"
#include "elf.h"
#include "init.h"
#include "lock.h"
#include "log.h"
#include "store.h"
#include "sys.h"

#define CARRY__SLOTS 32 /* signal numbers below this are tracked */
#define CARRY__FATAL \
    ((1u << SIGSEGV) | (1u << SIGBUS) | (1u << SIGILL) | (1u << SIGFPE) | (1u << SIGABRT))
#define CARRY__KERNEL_SIGSET (_NSIG / 8) /* what rt_sigprocmask takes */
#define CARRY__ALTSTACK (128 * 1024)
#define CARRY__FRAMES 64
#define CARRY__KEYS 64
#define CARRY__SHOWN 200 /* bytes of a value the report shows */

static bool carry__fatal(int sig)
{
    return sig > 0 && sig < CARRY__SLOTS && (CARRY__FATAL >> sig & 1u);
}

static bool carry__is_handler(const struct sigaction *a)
{
    return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

static carry__sigaction_fn *carry__real_sigaction;
_Atomic bool carry__crash_started;
static bool carry__crash_on; /* written once, before carry__crash_started */

/* The program's dispositions of the fatal signals, under carry__sig_lock. */
static struct sigaction carry__prog[CARRY__SLOTS];
static carry__spin carry__sig_lock_word;

/* Set while carry calls the next signal(): one that calls sigaction
 * (a sanitizer's) must reach the next sigaction, not carry's lock again. */
static __thread bool carry__in_signal __attribute__((tls_model("initial-exec")));

/*
 * Who reports: the pid in the high half (a forked child starts afresh), the
 * reporting thread's tid in the low half, or 0 once the report is written.
 * One report per process.
 */
static _Atomic uint64_t carry__report_state;

/* Every signal is blocked while the lock is held, so a handler never waits
 * for its own thread, and a fault inside (only carry's own code and the
 * real sigaction run there) is a plain default death. */
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

static void carry__crash_handler(int sig, siginfo_t *info, void *context);

/* carry's handler as the kernel sees it, standing in for prog: it keeps
 * prog's choice of stack and of restarting system calls, and blocks every
 * signal while carry reports (the program's mask is applied before its
 * handler runs). */
static struct sigaction carry__stand_in(const struct sigaction *prog)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = carry__crash_handler;
    sigfillset(&act.sa_mask);
    act.sa_flags = SA_SIGINFO | (carry__is_handler(prog) ? prog->sa_flags & (SA_ONSTACK | SA_RESTART)
                                                        : SA_ONSTACK | SA_RESTART);
    return act;
}

/* ---- libunwind ----------------------------------------------------------- */

#define CARRY__STR(x) CARRY__STR_(x)
#define CARRY__STR_(x) #x

static struct {
    __typeof__(unw_init_local2) *init;
    __typeof__(unw_step) *step;
    __typeof__(unw_get_reg) *get_reg;
    __typeof__(unw_is_signal_frame) *is_signal_frame;
} carry__unw;

/* Opened privately rather than linked: libunwind.so.8 also defines the
 * _Unwind_* functions of the C++ ABI, which in the global scope would take
 * exception handling over from the host's libgcc_s.  RTLD_NOW: no lazy
 * binding left to do inside a signal handler. */
static void carry__unwind_load(void)
{
    void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        carry__debug(1, "crash reports come without backtraces: %s", dlerror());
        return;
    }
    carry__unw.step = (__typeof__(carry__unw.step))dlsym(lib, CARRY__STR(unw_step));
    carry__unw.get_reg = (__typeof__(carry__unw.get_reg))dlsym(lib, CARRY__STR(unw_get_reg));
    carry__unw.is_signal_frame =
        (__typeof__(carry__unw.is_signal_frame))dlsym(lib, CARRY__STR(unw_is_signal_frame));
    if (carry__unw.step && carry__unw.get_reg && carry__unw.is_signal_frame)
        carry__unw.init = (__typeof__(carry__unw.init))dlsym(lib, CARRY__STR(unw_init_local2));
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

void carry__crash_start(carry__sigaction_fn *real)
{
    int saved_errno = errno;
    carry__ensure_init();
    /* A passive program runs as if carry were not loaded.  CARRY_MODE=off
     * keeps reports: the API's explicit contexts still exist there. */
    bool on = carry__config.active && carry__config.crash;
    if (on)
        carry__unwind_load();
    sigset_t saved;
    carry__sig_lock(&saved);
    carry__real_sigaction = real;
    carry__crash_on = on;
    for (int sig = 1; on && sig < CARRY__SLOTS; sig++) {
        if (!carry__fatal(sig) || real(sig, NULL, &carry__prog[sig]) != 0)
            continue;
        if (carry__prog[sig].sa_handler != SIG_IGN) {
            struct sigaction act = carry__stand_in(&carry__prog[sig]);
            real(sig, &act, NULL);
        }
    }
    if (on)
        carry__altstack();
    atomic_store_explicit(&carry__crash_started, true, memory_order_release);
    carry__sig_unlock(&saved);
    errno = saved_errno;
}

bool carry__crash_owns(int sig)
{
    return carry__fatal(sig) && !carry__in_signal && carry__crash_on;
}

/* ---- The program's dispositions ----------------------------------------- */

int carry__crash_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    /* Read before the lock: a bad pointer faults as it would natively. */
    struct sigaction want, prev, now;
    if (act != NULL)
        want = *act;
    sigset_t saved;
    carry__sig_lock(&saved);
    /* The real call checks act and stores it as the kernel keeps it. */
    int rc = carry__real_sigaction(sig, act ? &want : NULL, &prev);
    int err = errno;
    if (rc == 0) {
        /* Something that bypasses these wrappers (sigset, sigignore, abort)
         * may have replaced carry's handler: then the kernel has the truth. */
        if (prev.sa_sigaction == carry__crash_handler)
            prev = carry__prog[sig];
        if (act != NULL) {
            if (want.sa_handler == SIG_IGN) {
                carry__real_sigaction(sig, NULL, &now);
            } else {
                struct sigaction ours = carry__stand_in(&want);
                carry__real_sigaction(sig, &ours, &now);
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

__sighandler_t carry__crash_signal(int sig, __sighandler_t handler, carry__signal_fn *real)
{
    sigset_t saved;
    carry__sig_lock(&saved);
    /* libc's own signal() builds the action (BSD flags, siginterrupt's
     * choice) and installs it; carry reads it back. */
    carry__in_signal = true;
    __sighandler_t prev = real(sig, handler);
    carry__in_signal = false;
    int err = errno;
    if (prev != SIG_ERR) {
        if ((void *)prev == (void *)carry__crash_handler)
            prev = carry__prog[sig].sa_handler;
        struct sigaction now;
        carry__real_sigaction(sig, NULL, &now);
        if (now.sa_handler != SIG_IGN) {
            struct sigaction ours = carry__stand_in(&now);
            carry__real_sigaction(sig, &ours, NULL);
        }
        carry__prog[sig] = now;
    }
    carry__sig_unlock(&saved);
    errno = err;
    return prev;
}

/* As glibc's: sigaction with SA_RESETHAND | SA_NODEFER.  Not through the
 * real sysv_signal, which calls libc's sigaction internally, past any
 * sanitizer's. */
__sighandler_t carry__crash_sysv_signal(int sig, __sighandler_t handler)
{
    if (handler == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    act.sa_flags = SA_RESETHAND | SA_NODEFER | SA_INTERRUPT;
    if (carry__crash_sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* ---- Writing the report -------------------------------------------------- */

struct carry__out {
    size_t len;
    bool broken; /* a write raised SIGPIPE */
    char buf[512];
};

static void carry__out_flush(struct carry__out *o)
{
    for (size_t done = 0; done < o->len;) {
        long n = carry__sys(SYS_write, 2, o->buf + done, o->len - done);
        if (n == -EINTR)
            continue;
        if (n == -EPIPE)
            o->broken = true;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    o->len = 0;
}

static void carry__out_bytes(struct carry__out *o, const char *s, size_t n)
{
    while (n > 0) {
        if (o->len == sizeof o->buf)
            carry__out_flush(o);
        size_t k = sizeof o->buf - o->len < n ? sizeof o->buf - o->len : n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

static void carry__out(struct carry__out *o, const char *s)
{
    carry__out_bytes(o, s, strlen(s));
}

/* At least width hex digits, no prefix. */
static void carry__out_hex(struct carry__out *o, uint64_t v, int width)
{
    char d[16];
    int n = 0;
    do {
        d[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0 || n < width);
    while (n > 0)
        carry__out_bytes(o, &d[--n], 1);
}

static void carry__out_dec(struct carry__out *o, int64_t v)
{
    char d[20];
    int n = 0;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        d[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        carry__out(o, "-");
    while (n > 0)
        carry__out_bytes(o, &d[--n], 1);
}

/* Keys and values as text on one line: control bytes become '?', long
 * values are cut. */
static void carry__out_text(struct carry__out *o, const char *s)
{
    size_t i = 0;
    for (; s[i] != '\0' && i < CARRY__SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];
        carry__out_bytes(o, c < 0x20 || c == 0x7f ? "?" : &s[i], 1);
    }
    if (s[i] != '\0')
        carry__out(o, "...");
}

static void carry__out_end(struct carry__out *o)
{
    carry__out(o, "\n");
    carry__out_flush(o);
}

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
} carry__signals[CARRY__SLOTS] = {
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

/* "carry: context <id>", then "carry:   key=value" oldest first. */
static void carry__report_context(struct carry__out *o)
{
    carry_ctx *ctx = carry__current();
    carry__out(o, "carry: context ");
    if (ctx == NULL) {
        carry__out(o, "0000000000000000 (none)");
        carry__out_end(o);
        return;
    }
    if (ctx->magic != CARRY__CTX_LIVE) {
        carry__out(o, "at 0x");
        carry__out_hex(o, (uintptr_t)ctx, 1);
        carry__out(o, " is not alive");
        carry__out_end(o);
        return;
    }
    carry__out_hex(o, ctx->id, 16);
    carry__out_end(o);
    const char *keys[CARRY__KEYS], *values[CARRY__KEYS];
    size_t n = carry__store_list(ctx, keys, values, CARRY__KEYS);
    for (size_t i = n < CARRY__KEYS ? n : CARRY__KEYS; i-- > 0;) {
        carry__out(o, "carry:   ");
        carry__out_text(o, keys[i]);
        carry__out(o, "=");
        carry__out_text(o, values[i]);
        carry__out_end(o);
    }
    if (n > CARRY__KEYS) {
        carry__out(o, "carry:   (");
        carry__out_dec(o, (int64_t)(n - CARRY__KEYS));
        carry__out(o, " older keys not shown)");
        carry__out_end(o);
    }
}

static const char *carry__parse_hex(const char *p, uintptr_t *v)
{
    *v = 0;
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else
            return p;
        *v = *v << 4 | d;
    }
}

static const char *carry__skip_field(const char *p)
{
    while (*p != ' ' && *p != '\0')
        p++;
    while (*p == ' ')
        p++;
    return p;
}

/* One line of /proc/self/maps: "start-end perms offset dev inode path". */
static bool carry__maps_line(const char *line, uintptr_t pc, char *path, size_t size,
                             uintptr_t *offset)
{
    uintptr_t start, end, file_offset;
    const char *p = carry__parse_hex(line, &start);
    if (*p != '-')
        return false;
    p = carry__parse_hex(p + 1, &end);
    if (pc < start || pc >= end)
        return false;
    p = carry__skip_field(p);                         /* to perms */
    carry__parse_hex(p = carry__skip_field(p), &file_offset);
    p = carry__skip_field(carry__skip_field(carry__skip_field(p))); /* dev, inode */
    if (*p == '\0')
        return false; /* anonymous */
    size_t len = strlen(p) < size - 1 ? strlen(p) : size - 1;
    memcpy(path, p, len);
    path[len] = '\0';
    *offset = pc - start + file_offset;
    return true;
}

/* The file mapped at pc and pc's offset in it, from /proc/self/maps
 * (dladdr would take the loader's lock). */
static bool carry__object_of(uintptr_t pc, char *path, size_t size, uintptr_t *offset)
{
    int fd = (int)carry__sys(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[2048];
    size_t have = 0;
    bool found = false, skipping = false;
    while (!found) {
        long n = carry__sys(SYS_read, fd, buf + have, sizeof buf - have - 1);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        char *line = buf, *nl;
        while (!found && (nl = memchr(line, '\n', (size_t)(buf + have - line))) != NULL) {
            *nl = '\0';
            found = !skipping && carry__maps_line(line, pc, path, size, offset);
            skipping = false;
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have == sizeof buf - 1) { /* a line longer than buf: skip the rest of it */
            have = 0;
            skipping = true;
        }
    }
    carry__sys(SYS_close, fd);
    return found;
}

/* "carry:   #N 0x<pc> function+0xOFF (object+0xADDR)" per frame, ADDR as
 * addr2line takes it.  Names come from the objects' symbol tables (elf.c),
 * not from libunwind, whose unw_get_proc_name mallocs. */
static void carry__report_backtrace(struct carry__out *o, ucontext_t *uc)
{
    unw_cursor_t cursor;
    if (carry__unw.init == NULL ||
        carry__unw.init(&cursor, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0) {
        carry__out(o, "carry: no backtrace (libunwind.so.8 is not available)");
        carry__out_end(o);
        return;
    }
    carry__out(o, "carry: backtrace:");
    carry__out_end(o);
    struct carry__elf file = {.map = NULL};
    /* The first pc is the interrupted instruction, as is one a signal
     * frame saved; the others are return addresses, looked up one byte
     * back so that a call at the very end of a function names it. */
    unsigned back = 0;
    int frame = 0;
    for (; frame < CARRY__FRAMES; frame++) {
        unw_word_t pc;
        if (carry__unw.get_reg(&cursor, UNW_REG_IP, &pc) < 0)
            break;
        carry__out(o, "carry:   #");
        carry__out_dec(o, frame);
        carry__out(o, " 0x");
        carry__out_hex(o, pc, 16);
        char path[512], name[256];
        uintptr_t file_off;
        uint64_t addr, off;
        if (carry__object_of(pc - back, path, sizeof path, &file_off)) {
            bool elf = carry__elf_address(&file, path, file_off, &addr);
            if (elf && carry__elf_symbol(&file, addr, name, sizeof name, &off)) {
                carry__out(o, " ");
                carry__out(o, name);
                carry__out(o, "+0x");
                carry__out_hex(o, off + back, 1);
            }
            carry__out(o, " (");
            carry__out(o, path);
            carry__out(o, elf ? "+0x" : ", file offset 0x");
            carry__out_hex(o, (elf ? addr : file_off) + back, 1);
            carry__out(o, ")");
        }
        carry__out_end(o);
        back = carry__unw.is_signal_frame(&cursor) > 0 ? 0 : 1;
        if (carry__unw.step(&cursor) <= 0)
            break;
    }
    carry__elf_close(&file);
    if (frame == CARRY__FRAMES) {
        carry__out(o, "carry:   ... (more frames not shown)");
        carry__out_end(o);
    }
}

static void carry__report(int sig, const siginfo_t *info, ucontext_t *uc, long pid, long tid,
                          bool handler)
{
    struct carry__out o;
    o.len = 0;
    o.broken = false;
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
    carry__report_backtrace(&o, uc);
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

enum { CARRY__REPORT, CARRY__REPORTED, CARRY__REENTERED };

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
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    carry__real_sigaction(sig, &dfl, NULL);
    siginfo_t again = *info;
    if (carry__sys(SYS_rt_tgsigqueueinfo, pid, tid, sig, &again) != 0)
        carry__sys(SYS_tgkill, pid, tid, sig);
    sigdelset(&uc->uc_sigmask, sig);
}

static void carry__crash_handler(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    ucontext_t *uc = context;
    sigset_t saved;
    carry__sig_lock(&saved);
    struct sigaction prog = carry__prog[sig];
    bool handler = carry__is_handler(&prog);
    if (handler && (prog.sa_flags & SA_RESETHAND))
        carry__prog[sig].sa_handler = SIG_DFL; /* as the kernel would have */
    carry__sig_unlock(&saved);

    /* Ignored and sent by someone (kill, raise): nothing happens.  Only a
     * race with the program's own sigaction gets here; a fault that is
     * ignored kills, as the kernel would. */
    if (prog.sa_handler == SIG_IGN && info->si_code <= 0) {
        errno = saved_errno;
        return;
    }
    long pid = getpid(), tid = carry__sys(SYS_gettid);
    switch (carry__claim(pid, tid)) {
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
