/*
 * CARRY_STATS: how a run went at each boundary, printed when the process
 * exits.  The report goes to stderr or is appended to a file, written with
 * raw system calls so that it neither uses nor disturbs the program's
 * stdio.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "current.h"
#include "log.h"
#include "records.h"
#include "report.h"
#include "stats.h"
#include "sys.h"

static char carry__stats_target[4096]; /* "stderr" or a path */
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

static void carry__stats_write(int fd, const char *text, size_t len)
{
    while (len > 0) {
        long n = carry__sys(SYS_write, fd, text, len);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
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
    char a[32], b[32], c[32];
    size_t len = 0;
#define CARRY__PUT(...) \
    do { \
        int n_ = snprintf(buf + len, len < size ? size - len : 0, __VA_ARGS__); \
        if (n_ > 0) \
            len += (size_t)n_; \
    } while (0)
    CARRY__PUT("carry stats: pid %d (%s), %.1f s\n", (int)getpid(), program_invocation_short_name,
               seconds);
    CARRY__PUT("  contexts: %s created, %s alive at peak, %s alive at exit\n",
               carry__stats_num(carry__stat(&carry__stats.created), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.peak), b, sizeof b),
               carry__stats_num(carry__ctx_live(), c, sizeof c));
    CARRY__PUT("  connections: %s accepted (each a new context), %s connected\n",
               carry__stats_num(carry__stat(&carry__stats.accepted), a, sizeof a),
               carry__stats_num(carry__stat(&carry__stats.connected), b, sizeof b));
    CARRY__PUT("  %-10s %14s %14s %14s\n", "boundary", "captures", "restores", "no context");
    for (int i = 0; i < CARRY__BOUNDARIES; i++) {
        uint64_t cap = carry__stat(&carry__stats.flow[i][CARRY__CAPTURED]);
        uint64_t res = carry__stat(&carry__stats.flow[i][CARRY__RESTORED]);
        uint64_t none = carry__stat(&carry__stats.flow[i][CARRY__WITHOUT]);
        if (cap + res + none == 0)
            continue;
        char d[32];
        CARRY__PUT("  %-10s %14s %14s %14s\n", carry__boundary_names[i],
                   carry__stats_num(cap, a, sizeof a), carry__stats_num(res, b, sizeof b),
                   carry__stats_num(none, d, sizeof d));
    }
    size_t alive, peak;
    carry__records_counts(&alive, &peak);
    CARRY__PUT("  library records: %s alive at exit, %s at peak (an event, watcher, handle or "
               "request each)\n",
               carry__stats_num(alive, a, sizeof a), carry__stats_num(peak, b, sizeof b));
    CARRY__PUT("  mismatches: %s (I/O on a connection's fd while another context was current)\n",
               carry__stats_num(carry__stat(&carry__stats.mismatches), a, sizeof a));
    CARRY__PUT("  lost to memory: %s (work run with no context: carry could not allocate)\n",
               carry__stats_num(carry__stat(&carry__stats.lost_to_memory), a, sizeof a));
#undef CARRY__PUT
    return len < size ? len : size - 1;
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
        carry__stats_write(2, buf, len);
    } else {
        int fd = (int)carry__sys(SYS_openat, AT_FDCWD, carry__stats_target,
                                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            carry__stats_write(fd, buf, len);
            carry__sys(SYS_close, fd);
        }
    }
    errno = saved_errno;
}

bool carry__report_start(const char *target)
{
    if (target == NULL || *target == '\0')
        return false;
    if (strlen(target) >= sizeof carry__stats_target) {
        carry__warn("CARRY_STATS: the path is too long; no stats report");
        return false;
    }
    /* A path that cannot be written is said at once, not at exit. */
    if (strcmp(target, "stderr") != 0) {
        int fd = (int)carry__sys(SYS_openat, AT_FDCWD, target,
                                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            carry__warn("CARRY_STATS=%s: cannot write it (%s); no stats report", target,
                        strerror(-fd));
            return false;
        }
        carry__sys(SYS_close, fd);
    }
    strcpy(carry__stats_target, target);
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
