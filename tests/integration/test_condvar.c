/*
 * Rule H's condition variables (dataflow, opt-in): a thread woken from
 * pthread_cond_wait by a signal or broadcast made in a context takes it.
 * The fixture is cond_pool: the rule case by case (exact), the functions
 * of GLIBC_2.2.5 (left to libc), and a worker pool fed through a
 * condition variable, driven by epoll_client, where the rule is a
 * heuristic: its figures are README's, and what is asserted is what holds
 * whatever the threads' timing (every request answered, every signal
 * accounted for in the stats report, ids only with dataflow on).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

static struct carry_run_result run_fixture(const char *mode, const char *arg)
{
    const char *env[] = {mode, NULL};
    const char *argv[] = {carry_test_fixture("cond_pool"), arg, NULL};
    return carry_run_program(true, mode ? env : NULL, argv);
}

Test(condvar, each_case_under_dataflow)
{
    struct carry_run_result r = run_fixture("CARRY_MODE=all", "rules");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    const char *want[] = {"case=signal taken=1 of=1", "case=broadcast taken=3 of=3",
                          "case=none taken=1 of=1", "case=timeout taken=1 of=1"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_expect_not_null(strstr(r.out, want[i]), "no \"%s\" in:\n%s", want[i], r.out);
    carry_run_free(&r);
}

/* Without dataflow (the default mode, and the list without it) no waiter
 * takes the signaller's context: the cases above measure the rule. */
Test(condvar, no_hand_off_without_dataflow)
{
    const char *modes[] = {NULL, "CARRY_MODE=threads,epoll,accept,requests,loops"};
    for (size_t i = 0; i < 2; i++) {
        struct carry_run_result r = run_fixture(modes[i], "rules");
        cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
        cr_expect_not_null(strstr(r.out, "case=signal taken=0 of=1"), "%s", r.out);
        cr_expect_not_null(strstr(r.out, "case=broadcast taken=0 of=3"), "%s", r.out);
        carry_run_free(&r);
    }
}

/* A program built against GLIBC_2.2.5's condition variables calls libc's
 * own: a wrapper that took them to today's functions would break it (the
 * old pthread_cond_destroy frees a pointer the new functions overwrote). */
Test(condvar, old_versions_left_to_libc)
{
    struct carry_run_result r = run_fixture("CARRY_MODE=all", "old");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_str_eq(r.out, "old ok\n", "%s", r.err);
    carry_run_free(&r);
}

struct pool_run {
    long requests, mismatches, zero, shared;
    long handoffs, merged, none; /* the stats report's condvar line */
};

static long number(const char *text, const char *after)
{
    const char *p = strstr(text, after);
    cr_assert_not_null(p, "no \"%s\" in:\n%s", after, text);
    long n = 0;
    for (p += strlen(after); *p == ',' || (*p >= '0' && *p <= '9'); p++)
        if (*p != ',')
            n = n * 10 + (*p - '0');
    return n;
}

/* cond_pool with 4 workers under mode, driven by epoll_client over conns
 * connections, requests / carry_test_scale() of them, a new connection
 * every 5. */
static struct pool_run drive_pool(const char *mode, const char *conns, long requests)
{
    char stats[] = "/tmp/carry_condvar_XXXXXX", stats_env[64];
    int fd = mkstemp(stats);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(stats_env, sizeof stats_env, "CARRY_STATS=%s", stats);
    const char *env[] = {stats_env, mode, NULL};
    const char *server_argv[] = {carry_test_fixture("cond_pool"), "4", NULL};
    struct carry_server s = carry_server_start(true, env, server_argv);
    char port[16], total[32];
    snprintf(port, sizeof port, "%d", s.port);
    snprintf(total, sizeof total, "%ld", requests / carry_test_scale());
    const char *client_argv[] = {carry_test_fixture("epoll_client"), port, conns, total,
                                 "--churn", "5", NULL};
    struct carry_run_result r = carry_run_program(false, NULL, client_argv);
    free(carry_server_stop(&s));
    struct pool_run run;
    cr_assert_eq(sscanf(r.out, "requests=%ld connections=%*d mismatches=%ld zero=%ld shared_ids=%ld",
                        &run.requests, &run.mismatches, &run.zero, &run.shared),
                 4, "%s%s", r.out, r.err);
    cr_assert_eq(run.requests, requests / carry_test_scale(), "not every request answered: %s",
                 r.out);
    char *report = carry_read_file(stats);
    unlink(stats);
    run.handoffs = number(report, "condvar: ");
    run.merged = number(report, "hand-offs (a woken waiter took the signal's context), ");
    run.none = number(report, "merged (replaced before a waiter took them), ");
    cr_log_info("%s, %s connections: %s  condvar: %ld hand-offs, %ld merged, %ld woken with none",
                mode ? mode : "default mode", conns, strtok(r.out, "\n"), run.handoffs, run.merged,
                run.none);
    free(report);
    carry_run_free(&r);
    return run;
}

/* Every signal the acceptor made (one per request) was either taken by a
 * woken worker or merged into the next one; the last may still be
 * recorded when the server exits. */
static void assert_signals_accounted(const struct pool_run *run)
{
    long signals = run->handoffs + run->merged;
    cr_assert(signals == run->requests || signals == run->requests - 1,
              "%ld hand-offs + %ld merged for %ld signals", run->handoffs, run->merged,
              run->requests);
}

/* One request in flight at a time: every signal finds idle workers.  The
 * replies carry ids (some reply without its own when a worker back from
 * its previous reply pops the job before the woken one: README). */
Test(condvar, pool_one_request_at_a_time, .timeout = 240)
{
    struct pool_run run = drive_pool("CARRY_MODE=all", "1", 20000);
    assert_signals_accounted(&run);
    cr_assert_lt(run.zero, run.requests, "no reply carries an id");
    cr_assert_gt(run.handoffs, 0);
}

/* 100 connections: the workers are mostly busy and pop jobs without
 * waiting, in the context of their previous job (README has the figures). */
Test(condvar, pool_busy, .timeout = 240)
{
    struct pool_run run = drive_pool("CARRY_MODE=all", "100", 100000);
    assert_signals_accounted(&run);
    cr_assert_lt(run.zero, run.requests, "no reply carries an id");
}

/* The default mode has no dataflow: no reply carries an id, and the stats
 * count no hand-off. */
Test(condvar, pool_without_dataflow, .timeout = 240)
{
    struct pool_run run = drive_pool(NULL, "100", 20000);
    cr_assert_eq(run.zero, run.requests, "replies with an id without dataflow: %ld of %ld",
                 run.requests - run.zero, run.requests);
    cr_assert_eq(run.handoffs + run.merged + run.none, 0);
}
