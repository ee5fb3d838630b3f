/*
 * Rule L on libuv 1.x: uv_server passes every request through a thread-pool
 * step (uv_queue_work), a timer, a write and a close; under libcarry every
 * step runs in its connection's context, and without rule L it does not.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

/* uv_probe CMD under carry (env: NULL or more variables), which must exit
 * 0: its line that starts with CMD (free it), and *r to free. */
static char *uv_probe_line(const char *cmd, const char *const *env, struct carry_run_result *r)
{
    const char *argv[] = {carry_test_fixture("uv_probe"), cmd, NULL};
    *r = carry_run_program(true, env, argv);
    cr_assert_eq(r->status, 0, "%s%s", r->out, r->err);
    char *line = carry_line(r->out, cmd);
    cr_assert_not_null(line, "%s", r->out);
    return line;
}

/* Once uv_run has returned, a wait on the loop's epoll fd is the
 * program's own dispatch point (rule D), not the loop's. */
Test(libuv, a_wait_on_the_loops_epoll_fd_after_the_loop_ends_the_context)
{
    struct carry_run_result r;
    char *line = uv_probe_line("backend", NULL, &r);
    cr_assert_str_eq(line, "backend n=0 after=none", "%s", r.out);
    free(line);
    carry_run_free(&r);
}

Test(libuv, every_step_in_its_connections_context, .timeout = 240)
{
    carry_assert_clean_in_each_epoll_mode("uv_server", "-");
}

/* libuv reads a connection itself, between callbacks, and that read begins
 * the request its read callback runs in.  Each callback ends in no
 * context, so that libuv's own reads of the other connections that follow
 * in the same loop run in none: CARRY_STATS counts no I/O on a connection
 * in another connection's context (it counted about one per request). */
Test(libuv, libuvs_own_reads_run_in_no_request, .timeout = 120)
{
    char stats[] = "/tmp/carry_uv_stats_XXXXXX", stats_env[64];
    int fd = mkstemp(stats);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(stats_env, sizeof stats_env, "CARRY_STATS=%s", stats);
    const char *env[] = {stats_env, NULL};
    char *line = carry_drive(true, env, "uv_server", "-", "50", 5000, NULL);
    carry_assert_clean_run(line, 5000, 50, "50 connections");
    char *report = carry_read_file(stats);
    unlink(stats);
    cr_assert_eq(carry_number_after(report, "requests:"), 5000 / carry_test_scale(), "%s", report);
    cr_assert_eq(carry_number_after(report, "mismatches:"), 0, "%s", report);
    free(report);
    free(line);
}

/* Rule R's limit: requests read together are one request. */
Test(libuv, pipelined_bursts_share_a_request_context)
{
    carry_assert_pipelined_bursts("uv_server", "-");
}

Test(libuv, connections_churn, .timeout = 240)
{
    carry_assert_clean_churn("uv_server", "-");
}

Test(libuv, without_loops_the_steps_lose_their_context, .timeout = 120)
{
    carry_assert_loops_matter("uv_server", "-");
}

Test(libuv, without_carry_the_server_behaves_the_same, .timeout = 120)
{
    carry_assert_same_without_carry("uv_server", "-");
}

/* Runs uv_probe contexts and returns how many "step" lines it printed;
 * *wrong counts those whose id is not the one the callback was scheduled
 * in (or is 0 under carry). */
static int probe_steps(bool preload, const char *mode, int *wrong, const char *expect_name,
                       int *named)
{
    const char *env[] = {mode, NULL};
    const char *argv[] = {carry_test_fixture("uv_probe"), "contexts", NULL};
    struct carry_run_result r = carry_run_program(preload, mode ? env : NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "done rc=0 id=0000000000000000\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "fs_sync rc=0\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "getaddrinfo status=0\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "write status=0\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "shutdown status=0\n"), "%s", r.out);
    int steps = 0;
    *wrong = *named = 0;
    for (const char *p = strstr(r.out, "step "); p; p = strstr(p + 1, "\nstep ")) {
        if (*p == '\n')
            p++;
        char name[32];
        unsigned long long id, want;
        cr_assert_eq(sscanf(p, "step %31s id=%llx want=%llx", name, &id, &want), 3, "%s", p);
        steps++;
        *wrong += id != want || (preload && id == 0);
        *named += strcmp(name, expect_name) == 0;
    }
    carry_run_free(&r);
    return steps;
}

Test(libuv, every_kind_of_callback_in_its_context)
{
    /* Three repeats of a timer libuv re-arms itself, a one-shot timer, two
     * pool jobs (one without after-work), an fs chain of three, a lookup,
     * a write on a pipe and its shutdown, an async send from another
     * thread, idle, check, prepare, and a poll on an accepted fd started
     * from another context, with its close. */
    int wrong, repeats;
    int steps = probe_steps(true, NULL, &wrong, "timer_repeat", &repeats);
    cr_assert_eq(steps, 19);
    cr_assert_eq(repeats, 3);
    cr_assert_eq(wrong, 0);
    int native = probe_steps(false, NULL, &wrong, "timer_repeat", &repeats);
    cr_assert_eq(native, steps, "the program behaves the same without carry");
    probe_steps(true, "CARRY_MODE=threads,epoll,accept", &wrong, "timer_repeat", &repeats);
    cr_assert_geq(wrong, 10, "without rule L most callbacks lose their context");
}

Test(libuv, bad_input_behaves_as_without_carry)
{
    const char *argv[] = {carry_test_fixture("uv_probe"), "errors", NULL};
    struct carry_run_result with = carry_run_program(true, NULL, argv);
    struct carry_run_result without = carry_run_program(false, NULL, argv);
    cr_assert_eq(with.status, 0, "%s%s", with.out, with.err);
    cr_assert_str_eq(with.out, without.out);
    cr_assert_not_null(strstr(with.out, "timer_null rc=-22\n"), "%s", with.out);
    cr_assert_not_null(strstr(with.out, "read_null_stream rc=-22\nread_null_cb rc=-22\n"), "%s",
                       with.out);
    cr_assert_not_null(strstr(with.out, "data_kept=1\n"), "%s", with.out);
    carry_run_free(&with);
    carry_run_free(&without);
}

Test(libuv, a_loop_nested_in_a_callback_gives_it_its_context_back)
{
    struct carry_run_result r;
    char *line = uv_probe_line("nested", NULL, &r);
    char *outer = carry_field(line, "outer"), *inner = carry_field(line, "inner"),
         *inner_want = carry_field(line, "inner_want"), *after = carry_field(line, "after");
    cr_assert_str_neq(outer, "0000000000000000", "%s", line);
    /* The nested loop's callback runs in its own context... */
    cr_assert_str_eq(inner, inner_want, "%s", line);
    /* ...and the callback that ran the loop goes on in its own. */
    cr_assert_str_eq(after, outer, "%s", line);
    free(outer);
    free(inner);
    free(inner_want);
    free(after);
    free(line);
    carry_run_free(&r);
}

/* named drains a queue of its own from an async's callback: the sends
 * libuv merges into one run belong to one context only if all were made
 * in it, else the run has none (never the last sender's). */
Test(libuv, async_sends_merged_from_two_contexts_run_in_none)
{
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    struct carry_run_result r;
    char *line = uv_probe_line("async", env, &r);
    char *merged = carry_field(line, "merged"), *same = carry_field(line, "same"),
         *same_want = carry_field(line, "same_want"), *single = carry_field(line, "single"),
         *single_want = carry_field(line, "single_want");
    cr_assert_str_eq(merged, "0000000000000000", "%s", line);
    cr_assert_str_neq(same_want, "0000000000000000", "%s", line);
    cr_assert_str_eq(same, same_want, "%s", line);
    cr_assert_str_eq(single, single_want, "%s", line);
    cr_assert_not_null(strstr(r.err, " alive at peak, 0 alive at exit\n"), "%s", r.err);
    free(merged);
    free(same);
    free(same_want);
    free(single);
    free(single_want);
    free(line);
    carry_run_free(&r);
}

/* libuv's signal lock is a pipe, read and written by every start and stop
 * of a signal handle and by libuv's own signal handler: it is no hand-off
 * channel (rule H), or the code around it, and whatever code a signal
 * interrupts (uv_server's callbacks, stopped with SIGTERM), would go on in
 * the context of the lock's last holder, here none. */
Test(libuv, signal_handles_and_libuvs_handler_keep_the_callers_context)
{
    struct carry_run_result r;
    char *line = uv_probe_line("signals", NULL, &r);
    char *want = carry_field(line, "want");
    cr_assert_str_neq(want, "0000000000000000", "%s", line);
    const char *names[] = {"start", "raised", "stop", "callback"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *id = carry_field(line, names[i]);
        cr_assert_str_eq(id, want, "%s: %s", names[i], line);
        free(id);
    }
    free(want);
    free(line);
    carry_run_free(&r);
}
