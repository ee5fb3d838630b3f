/*
 * CARRY_STATS: how a run went at each boundary, printed when the process
 * exits.  The report goes to stderr or is appended to a file, written with
 * raw system calls so that it neither uses nor disturbs the program's
 * stdio.
 *
 * The file is opened at start-up and kept: a server that forks workers and
 * drops privileges (nginx's master runs as root, its workers as another
 * user) still has every process append its own report, which a path opened
 * at exit would refuse.  A report that cannot be written is said once on
 * stderr, with the path and the error.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "current.h"
#include "export.h"
#include "log.h"
#include "records.h"
#include "report.h"
#include "stats.h"
#include "sys.h"

static char carry__stats_target[4096]; /* "stderr" or the path as given */
static char carry__stats_path[4096];   /* the path, absolute: a daemon chdirs */
static int carry__stats_fd = -1;       /* the file, open since start-up */
static dev_t carry__stats_dev;         /* which file carry__stats_fd is */
static ino_t carry__stats_ino;
/* The process's name at start-up: a server that rewrites its title (nginx:
 * "worker process is shutting down") overwrites the memory of argv[0]. */
static char carry__stats_name[256];
static struct timespec carry__stats_start;

/* Thousands separated, for reading at a glance. */
static const char *carry__stats_num(uint64_t n, char *buf, size_t size)
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t out = 0;
    for (int i = 0; i < len && out + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

static uint64_t carry__stat(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Writes all of text to fd; 0, or the error.  A write to a pipe nobody
 * reads raises SIGPIPE: that one is carry's, and must not kill a program
 * that is exiting as it chose, so it is blocked while the report is written
 * and taken back. */
static int carry__stats_write(int fd, const char *text, size_t len)
{
    sigset_t pipe, old, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigemptyset(&pending);
    carry__sys(SYS_rt_sigprocmask, SIG_BLOCK, &pipe, &old, CARRY__KERNEL_SIGSET);
    carry__sys(SYS_rt_sigpending, &pending, CARRY__KERNEL_SIGSET);
    int err = 0;
    while (len > 0 && err == 0) {
        long n = carry__sys(SYS_write, fd, text, len);
        if (n > 0) {
            text += n;
            len -= (size_t)n;
        } else if (n != -EINTR) {
            err = n < 0 ? (int)-n : EIO; /* no progress: as a failed device would */
        }
    }
    if (err == EPIPE && !sigismember(&pending, SIGPIPE)) {
        struct timespec now = {0, 0};
        carry__sys(SYS_rt_sigtimedwait, &pipe, NULL, &now, CARRY__KERNEL_SIGSET);
    }
    carry__sys(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, CARRY__KERNEL_SIGSET);
    return err;
}

static const char *const carry__boundary_names[CARRY__BOUNDARIES] = {
    [CARRY__B_THREADS] = "threads",   [CARRY__B_EPOLL] = "epoll",
    [CARRY__B_LIBEVENT] = "libevent", [CARRY__B_LIBEV] = "libev",
    [CARRY__B_LIBUV] = "libuv",
};

size_t carry__report_format(char *buf, size_t size)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds = (double)(now.tv_sec - carry__stats_start.tv_sec) +
                     (double)(now.tv_nsec - carry__stats_start.tv_nsec) / 1e9;
    char a[32], b[32], c[32], d[32];
    size_t len = 0;
#define CARRY__PUT(...) \
    do { \
        int n_ = snprintf(buf + len, len < size ? size - len : 0, __VA_ARGS__); \
        if (n_ > 0) \
            len += (size_t)n_; \
    } while (0)
    CARRY__PUT("carry stats: pid %d (%s), %.1f s\n", (int)getpid(), carry__stats_name, seconds);
    CARRY__PUT("  contexts: %s created, ",
               carry__stats_num(carry__stat(&carry__stats.created), a, sizeof a));
    /* A forked child's peak and live counts start from its parent's
     * contexts: said, so that they are not taken for its own. */
    if (carry__stat(&carry__stats.inherited) != 0)
        CARRY__PUT("%s inherited at fork, ",
                   carry__stats_num(carry__stat(&carry__stats.inherited), a, sizeof a));
    CARRY__PUT("%s alive at peak, %s alive at exit\n",
               carry__stats_num(carry__stat(&carry__stats.peak), b, sizeof b),
               carry__stats_num(carry__ctx_live(), c, sizeof c));
    CARRY__PUT("  connections: %s accepted (each a new context), %s connected\n",
               carry__stats_num(carry__stat(&carry__stats.accepted), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.connected), b, sizeof b));
    uint64_t accepted = carry__stat(&carry__stats.accepted);
    uint64_t requests = carry__stat(&carry__stats.requests);
    CARRY__PUT("  requests: %s begun (each a new context), %.1f per connection on average, %s at "
               "most\n",
               carry__stats_num(requests, a, sizeof a),
               accepted ? (double)requests / (double)accepted : 0.0,
               carry__stats_num(carry__stat(&carry__stats.requests_max), b, sizeof b));
    CARRY__PUT("  http: %s request heads read, traceparents %s adopted, %s rejected (malformed)\n",
               carry__stats_num(carry__stat(&carry__stats.http_heads), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.traceparents), b, sizeof b),
               carry__stats_num(carry__stat(&carry__stats.traceparents_rejected), c, sizeof c));
    CARRY__PUT("  outgoing: traceparents %s injected, %s rewritten (CARRY_TRACE=inject)\n",
               carry__stats_num(carry__stat(&carry__stats.traceparents_injected), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.traceparents_rewritten), b, sizeof b));
    CARRY__PUT("  datagrams: %s received (each a new context), %s past a batch's bound (none)\n",
               carry__stats_num(carry__stat(&carry__stats.datagrams), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.datagrams_unbatched), b, sizeof b));
    CARRY__PUT("  hand-offs: %s through pipes, %s through eventfds, %s through socketpairs; ",
               carry__stats_num(carry__stat(&carry__stats.handoffs[0]), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.handoffs[1]), b, sizeof b),
               carry__stats_num(carry__stat(&carry__stats.handoffs[2]), c, sizeof c));
    CARRY__PUT("%s writes merged into another's read, %s dropped past a channel's bound\n",
               carry__stats_num(carry__stat(&carry__stats.handoffs_merged), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.handoffs_dropped), b, sizeof b));
    CARRY__PUT("  condvar: %s hand-offs (a woken waiter took the signal's context), %s merged "
               "(replaced before a waiter took them), %s woken with none\n",
               carry__stats_num(carry__stat(&carry__stats.condvar_handoffs), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.condvar_merged), b, sizeof b),
               carry__stats_num(carry__stat(&carry__stats.condvar_none), c, sizeof c));
    CARRY__PUT("  %-10s %14s %14s %14s\n", "boundary", "captures", "restores", "no context");
    for (int i = 0; i < CARRY__BOUNDARIES; i++) {
        uint64_t cap = carry__stat(&carry__stats.flow[i][CARRY__CAPTURED]);
        uint64_t res = carry__stat(&carry__stats.flow[i][CARRY__RESTORED]);
        uint64_t none = carry__stat(&carry__stats.flow[i][CARRY__WITHOUT]);
        if (cap + res + none == 0)
            continue;
        CARRY__PUT("  %-10s %14s %14s %14s\n", carry__boundary_names[i],
                   carry__stats_num(cap, a, sizeof a), carry__stats_num(res, b, sizeof b),
                   carry__stats_num(none, d, sizeof d));
    }
    size_t alive, peak;
    carry__records_counts(&alive, &peak);
    CARRY__PUT("  library records: %s alive at exit, %s at peak (an event, watcher, handle or "
               "request each); libuv requests holding theirs: %s in flight at exit, %s at "
               "peak\n",
               carry__stats_num(alive, a, sizeof a), carry__stats_num(peak, b, sizeof b),
               carry__stats_num(carry__stat(&carry__stats.uv_requests), c, sizeof c),
               carry__stats_num(carry__stat(&carry__stats.uv_requests_max), d, sizeof d));
    CARRY__PUT("  mismatches: %s (I/O on a connection's fd while another context was current)\n",
               carry__stats_num(carry__stat(&carry__stats.mismatches), a, sizeof a));
    if (carry__export_on()) {
        CARRY__PUT("  spans: %s exported, %s dropped (queue full), %s failed sends, %s truncated "
                   "attributes\n",
                   carry__stats_num(carry__stat(&carry__stats.spans_exported), a, sizeof a),
                   carry__stats_num(carry__stat(&carry__stats.spans_dropped), b, sizeof b),
                   carry__stats_num(carry__stat(&carry__stats.spans_failed), c, sizeof c),
                   carry__stats_num(carry__stat(&carry__stats.spans_truncated), d, sizeof d));
    }
    CARRY__PUT("  lost to memory: %s (work run with no context: carry could not allocate)\n",
               carry__stats_num(carry__stat(&carry__stats.lost_to_memory), a, sizeof a));
#undef CARRY__PUT
    return len < size ? len : size - 1;
}

/* Said once: at start-up, or at exit when the report fails there. */
static void carry__stats_cannot(int err)
{
    carry__warn("CARRY_STATS=%s: cannot write it (%s); no stats report", carry__stats_target,
                strerror(err));
}

/* Opens the path for appending; the fd, or a negative errno value. */
static int carry__stats_open(const char *path)
{
    return (int)carry__sys(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                           0644);
}

/* The fd to write the report to: the one opened at start-up while it is
 * still that file, else the path opened again (the program closed it, as a
 * daemon closing every fd does, and the number may be another file now).
 * A negative errno value when neither can be had. */
static int carry__stats_fd_at_exit(void)
{
    struct stat st;
    if (carry__sys(SYS_fstat, carry__stats_fd, &st) == 0 && st.st_dev == carry__stats_dev &&
        st.st_ino == carry__stats_ino)
        return carry__stats_fd;
    return carry__stats_open(carry__stats_path);
}

static void carry__report(void)
{
    if (!atomic_load_explicit(&carry__stats_on, memory_order_relaxed))
        return;
    int saved_errno = errno;
    /* Contexts other threads let go of while this one owned them die now,
     * not at this thread's next rule-D point, which never comes. */
    carry__ctx_drain();
    char buf[2048];
    size_t len = carry__report_format(buf, sizeof buf);
    if (strcmp(carry__stats_target, "stderr") == 0) {
        /* A report that stderr does not take has nowhere to say so. */
        carry__stats_write(2, buf, len);
    } else {
        int fd = carry__stats_fd_at_exit(), err = fd < 0 ? -fd : 0;
        if (fd >= 0) {
            err = carry__stats_write(fd, buf, len);
            long closed = carry__sys(SYS_close, fd);
            if (err == 0 && closed < 0 && closed != -EINTR)
                err = (int)-closed;
        }
        if (err != 0)
            carry__stats_cannot(err);
    }
    errno = saved_errno;
}

/* Keeps fd, moved up to 1023 (or the fd limit) if it can be, so that the
 * program's own fds get the numbers they would get without carry; its
 * identity tells at exit whether it is still carry's. */
static void carry__stats_keep(int fd)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur > (rlim_t)fd + 1) {
        long high = (long)(limit.rlim_cur < 1024 ? limit.rlim_cur : 1024) - 1;
        long moved = carry__sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, high);
        if (moved >= 0) {
            carry__sys(SYS_close, fd);
            fd = (int)moved;
        }
    }
    struct stat st = {0};
    carry__sys(SYS_fstat, fd, &st); /* of an fd just opened: cannot fail */
    carry__stats_fd = fd;
    carry__stats_dev = st.st_dev;
    carry__stats_ino = st.st_ino;
}

bool carry__report_start(const char *target)
{
    if (target == NULL || *target == '\0')
        return false;
    bool to_stderr = strcmp(target, "stderr") == 0;
    size_t cwd_len = 0;
    if (!to_stderr && target[0] != '/' && getcwd(carry__stats_path, sizeof carry__stats_path))
        cwd_len = strlen(carry__stats_path);
    if (strlen(target) >= sizeof carry__stats_target ||
        cwd_len + 1 + strlen(target) >= sizeof carry__stats_path) {
        carry__warn("CARRY_STATS: the path is too long; no stats report");
        return false;
    }
    strcpy(carry__stats_target, target);
    snprintf(carry__stats_path + cwd_len, sizeof carry__stats_path - cwd_len, "%s%s",
             cwd_len ? "/" : "", target);
    if (!to_stderr) {
        int fd = carry__stats_open(carry__stats_path);
        if (fd < 0) {
            carry__stats_cannot(-fd);
            return false;
        }
        carry__stats_keep(fd);
    }
    snprintf(carry__stats_name, sizeof carry__stats_name, "%s", program_invocation_short_name);
    clock_gettime(CLOCK_MONOTONIC, &carry__stats_start);
    atomic_store(&carry__stats_on, true);
    if (atexit(carry__report) != 0)
        carry__warn("CARRY_STATS: cannot register the report at exit");
    return true;
}

/* A forked child counts afresh: its report is its own. */
void carry__report_atfork_child(void)
{
    if (!atomic_load_explicit(&carry__stats_on, memory_order_relaxed))
        return;
    carry__stats_reset(carry__ctx_live());
    clock_gettime(CLOCK_MONOTONIC, &carry__stats_start);
}
