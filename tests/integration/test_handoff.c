/*
 * Rule H, channels: handoff_server's acceptor thread reads every request
 * and hands it to a pool of 4 worker threads (a pipe per worker, one
 * eventfd for the pool, libevent's event_active across threads), which
 * write the replies; epoll_client checks that each reply carries the id of
 * the request it answers.  The server's own report ("handoff handed=...
 * right=... reads=... merged=...") counts the jobs replied in the context
 * that handed them, against what the rule promises.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

struct report {
    long handed, right, reads, merged, max;
};

static struct report report_of(const char *text)
{
    struct report r;
    const char *line = strstr(text, "handoff handed=");
    cr_assert_not_null(line, "no report from handoff_server:\n%s", text);
    cr_assert_eq(sscanf(line, "handoff handed=%ld right=%ld reads=%ld merged=%ld max=%ld",
                        &r.handed, &r.right, &r.reads, &r.merged, &r.max),
                 5, "%s", line);
    cr_assert_eq(r.reads + r.merged, r.handed, "%s", line);
    return r;
}

/* 100,000 requests over 100 connections, a new one every 5 requests (fd
 * numbers reused fast), under carry: each reply carries its request's id. */
static void every_reply_in_its_request(const char *mode)
{
    char *rest;
    char *line = carry_drive_report(true, NULL, "handoff_server", mode, "100", 100000, "--churn",
                                    &rest);
    struct report r = report_of(rest);
    free(rest);
    cr_assert_not_null(strstr(line, "mismatches=0 zero=0 shared_ids=0"), "%s: %s", mode, line);
    cr_assert_eq(r.right, r.handed, "%s: %ld of %ld jobs replied in the context that handed them",
                 mode, r.right, r.handed);
    free(line);
}

/* (a) A pipe per worker, one byte per job: each read consumes one write,
 * whose context it makes current. */
Test(handoff, pipes_every_reply_in_its_request, .timeout = 240)
{
    every_reply_in_its_request("pipes");
}

/* (c) event_active from the acceptor on an event of the worker's base,
 * one per job: rule L captures the acceptor's context at the call (the
 * base's own notify fd is a channel too, read in libevent's internal
 * callback, whose context ends with it). */
Test(handoff, evthread_every_reply_in_its_request, .timeout = 240)
{
    every_reply_in_its_request("evthread");
}

/*
 * The same run for a mode in which carry cannot give every job its own
 * context, so the client's check fails by the rule: every request must be
 * answered all the same.  The client's summary line (malloc'd) and the
 * server's report.
 */
static char *merged_run(const char *mode, struct report *r)
{
    const char *argv[] = {carry_test_fixture("handoff_server"), mode, "4", NULL};
    struct carry_server s = carry_server_start(true, NULL, argv);
    char port[16], total[32];
    snprintf(port, sizeof port, "%d", s.port);
    snprintf(total, sizeof total, "%d", 100000 / carry_test_scale());
    const char *client[] = {carry_test_fixture("epoll_client"), port, "100", total, "--churn",
                            "5", NULL};
    struct carry_run_result c = carry_run_program(false, NULL, client);
    char *rest = carry_server_stop(&s);
    *r = report_of(rest);
    char want[64];
    snprintf(want, sizeof want, "requests=%s ", total);
    cr_assert_eq(strncmp(c.out, want, strlen(want)), 0, "%s: %s%s", mode, c.out, c.err);
    cr_assert_eq(r->handed, 100000 / carry_test_scale(), "%s: %s", mode, rest);
    char *line = strndup(c.out, strcspn(c.out, "\n"));
    free(rest);
    carry_run_free(&c);
    return line;
}

static void log_counts(const char *mode, const char *line, const struct report *r)
{
    cr_log_info("handoff %s: %s; %ld jobs, %ld wake-ups, %ld merged (at most %ld in one), %ld "
                "replied in their own context",
                mode, line, r->handed, r->reads, r->merged, r->max, r->right);
}

/*
 * (b) One eventfd for the pool: a read takes the whole count, and the
 * worker pops that many jobs, all in the context of the oldest write it
 * consumed.  With the read and its pops one step, the jobs of a read are
 * the writes it consumed: exactly one of them (the first) runs in its
 * own context, every other one in the first's.  The client sees the
 * others as replies with another request's id: how many of its checks
 * that breaks depends on which reply of a connection it is, so only the
 * server's count is exact.
 */
Test(handoff, eventfd_one_job_per_read_in_its_request, .timeout = 240)
{
    struct report r;
    char *line = merged_run("eventfd", &r);
    cr_assert_eq(r.right, r.reads, "%s: %ld jobs in their own context, %ld reads", line, r.right,
                 r.reads);
    log_counts("eventfd", line, &r);
    free(line);
}

/*
 * One persistent event per worker, activated for each job, its callback
 * draining the queue: libevent runs the activations made before the
 * callback as one run, in one context (rule L: the one captured by an
 * activation), so at most one of the jobs it drains is in its own.
 */
Test(handoff, evdrain_at_most_one_job_per_wakeup_in_its_request, .timeout = 240)
{
    struct report r;
    char *line = merged_run("evdrain", &r);
    cr_assert_leq(r.right, r.reads, "%s", line);
    log_counts("evdrain", line, &r);
    free(line);
}

/* Channels off, the rest of events on: the workers run with no context,
 * so the check measures carry's hand-off, not luck. */
Test(handoff, without_channels_the_pipes_lose_their_requests, .timeout = 120)
{
    carry_assert_fails_without("handoff_server", "pipes",
                               "CARRY_MODE=threads,epoll,accept,requests,loops", "channels");
}

/* Without libcarry every mode answers every request as the protocol says,
 * and every job counts as replied in its context (none, 0). */
Test(handoff, without_carry_every_mode_answers_every_request, .timeout = 240)
{
    const char *modes[] = {"pipes", "eventfd", "evthread", "evdrain"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        char *rest;
        char *line = carry_drive_report(false, NULL, "handoff_server", modes[i], "100", 20000,
                                        "--no-carry", &rest);
        carry_assert_clean_run(line, 20000, 100, modes[i]);
        struct report r = report_of(rest);
        cr_assert_eq(r.right, r.handed, "%s: %s", modes[i], rest);
        free(rest);
        free(line);
    }
}
