/*
 * Rule H, channels, step by step (probe channels): a pipe, an eventfd and a
 * socketpair the process made hand each write's context to the read that
 * consumes it; a read of several writes takes the oldest's, and I/O on an
 * fd one of the others owns switches to it (memcached's worker).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

static struct carry_run_result probe_channels(const char *mode)
{
    const char *env[] = {mode, "CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_probe(), "channels", NULL};
    struct carry_run_result r = carry_run_program(true, mode ? env : env + 1, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    return r;
}

/* The user key of step name's line: the writer whose context it took. */
static char *user_of(const char *out, const char *name)
{
    char *line = carry_line(out, name);
    char *user = carry_field(line, "user");
    free(line);
    return user;
}

TestSuite(channels, .timeout = 60);

Test(channels, each_read_takes_the_oldest_write_it_consumed)
{
    struct carry_run_result r = probe_channels(NULL);
    static const struct {
        const char *step, *writer;
    } want[] = {
        {"pipe-first", "A"},      /* one byte of A's two */
        {"pipe-rest", "A"},       /* A's last byte and all of B's: the oldest */
        {"pipe-c", "C"},
        {"pipe-none", "-"},       /* a write in no context hands none over */
        {"pipe-dup", "B"},        /* a dup of the read end reads the channel */
        {"pipe-after-full", "C"}, /* B's write failed (EAGAIN): nothing of it to take */
        {"eventfd", "B"},         /* B, A, C added to the count: the oldest */
        {"semaphore-1", "A"},     /* EFD_SEMAPHORE: one write per read */
        {"semaphore-2", "B"},
        {"eventfd-glibc", "C"},   /* eventfd_write and eventfd_read */
        {"socketpair-1", "A"},    /* each end reads what the other wrote */
        {"socketpair-0", "B"},
        {"child", "-"},           /* a forked child does not take its parent's */
        {"batch-read", "first"},  /* two connections in one eventfd read */
        {"batch-second", "second"},
        {"batch-first", "first"},
        {"solo-read", "solo"},
        {"solo-after", "solo"},   /* a hand-off of one write ended the batch */
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char *user = user_of(r.out, want[i].step);
        cr_assert_str_eq(user, want[i].writer, "%s\n%s", want[i].step, r.out);
        free(user);
    }
    cr_assert_not_null(strstr(r.err, "  hand-offs: 7 through pipes, 6 through eventfds, 2 through "
                                     "socketpairs; 4 writes merged into another's read, 0 dropped "
                                     "past a channel's bound\n"),
                       "%s", r.err);
    carry_run_free(&r);
}

/* Without the channels item, nothing is handed over. */
Test(channels, off_without_the_channels_item)
{
    struct carry_run_result r = probe_channels("CARRY_MODE=threads,epoll,accept,requests,loops");
    const char *steps[] = {"pipe-first", "eventfd", "socketpair-1", "batch-second"};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char *user = user_of(r.out, steps[i]);
        cr_assert_str_eq(user, "-", "%s\n%s", steps[i], r.out);
        free(user);
    }
    carry_run_free(&r);
}
