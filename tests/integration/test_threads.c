/* Rules T and X as a program sees them: probe run under libcarry. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "run.h"

static struct carry_run_result probe(bool preload, const char *const *env, const char *cmd)
{
    const char *argv[] = {carry_test_probe(), cmd, NULL};
    struct carry_run_result r = carry_run_program(preload, env, argv);
    cr_assert_eq(r.status, 0, "probe %s exited %d\nstdout:\n%s\nstderr:\n%s", cmd, r.status,
                 r.out, r.err);
    return r;
}

static void assert_user(const char *out, const char *name, const char *want)
{
    char *line = carry_line(out, name);
    cr_assert_not_null(line, "no line %s in:\n%s", name, out);
    char *user = carry_field(line, "user");
    cr_assert_str_eq(user, want, "%s", line);
    free(user);
    free(line);
}

Test(threads, children_and_grandchildren_inherit)
{
    struct carry_run_result r = probe(true, NULL, "threads");
    uint64_t main_id = carry_line_id(r.out, "main");
    cr_assert_neq(main_id, 0);
    cr_assert_eq(carry_line_id(r.out, "t1"), main_id);
    cr_assert_eq(carry_line_id(r.out, "t2"), main_id);
    assert_user(r.out, "t1", "alice");
    assert_user(r.out, "t2", "alice");
    /* The store is shared: what t1 set, main reads after the join. */
    cr_assert_not_null(strstr(r.out, "main seen=t1\n"), "%s", r.out);
    cr_assert_str_empty(r.err);
    carry_run_free(&r);
}

Test(threads, mode_off_does_not_propagate)
{
    const char *env[] = {"CARRY_MODE=off", NULL};
    struct carry_run_result r = probe(true, env, "threads");
    cr_assert_neq(carry_line_id(r.out, "main"), 0, "the API still works with mode off");
    cr_assert_eq(carry_line_id(r.out, "t1"), 0);
    cr_assert_eq(carry_line_id(r.out, "t2"), 0);
    cr_assert_not_null(strstr(r.out, "main seen=-\n"), "%s", r.out);
    carry_run_free(&r);
}

Test(threads, mode_list_without_threads_does_not_propagate)
{
    const char *env[] = {"CARRY_MODE=epoll,accept,loops", NULL};
    struct carry_run_result r = probe(true, env, "threads");
    cr_assert_eq(carry_line_id(r.out, "t1"), 0);
    carry_run_free(&r);
}

Test(threads, mode_list_with_threads_propagates)
{
    const char *env[] = {"CARRY_MODE=threads", NULL};
    struct carry_run_result r = probe(true, env, "threads");
    cr_assert_eq(carry_line_id(r.out, "t1"), carry_line_id(r.out, "main"));
    carry_run_free(&r);
}

/* Rule D in every mode: a context a thread inherited (rule T) or entered
 * with carry_enter ends at the thread's next epoll_wait, whether or not
 * epoll delivers contexts (rule E). */
Test(threads, contexts_end_at_the_next_wait_in_every_mode)
{
    const char *modes[] = {NULL, "CARRY_MODE=threads", "CARRY_MODE=threads,loops",
                           "CARRY_MODE=off"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        const char *env[] = {modes[i], NULL};
        const char *mode = modes[i] != NULL ? modes[i] : "the default mode";
        struct carry_run_result r = probe(true, env, "dispatch");
        uint64_t entered = carry_line_id(r.out, "entered");
        cr_assert_neq(entered, 0, "%s:\n%s", mode, r.out);
        cr_assert_eq(carry_line_id(r.out, "entered-after-wait"), 0, "%s:\n%s", mode, r.out);
        bool inherits = strstr(mode, "CARRY_MODE=off") == NULL;
        cr_assert_eq(carry_line_id(r.out, "inherited"), inherits ? entered : 0, "%s:\n%s", mode,
                     r.out);
        cr_assert_eq(carry_line_id(r.out, "inherited-after-wait"), 0, "%s:\n%s", mode, r.out);
        cr_assert_str_empty(r.err, "%s", mode);
        carry_run_free(&r);
    }
}

/* C11's thrd_create starts its thread in its creator's context as
 * pthread_create does, and the thread's int result reaches thrd_join. */
Test(threads, c11_threads_inherit)
{
    const char *runtime = getenv("CARRY_TEST_SANITIZER_RUNTIME");
    if (runtime != NULL && strstr(runtime, "libtsan") != NULL)
        cr_skip_test("ThreadSanitizer does not know C11's thrd_create (no interceptor in GCC 12)");
    struct carry_run_result r = probe(true, NULL, "c11threads");
    uint64_t main_id = carry_line_id(r.out, "c11-main");
    cr_assert_neq(main_id, 0);
    cr_assert_eq(carry_line_id(r.out, "c11"), main_id, "%s", r.out);
    assert_user(r.out, "c11", "dave");
    cr_assert_not_null(strstr(r.out, "c11-joined res=-7\n"), "%s", r.out);
    cr_assert_str_empty(r.err);
    carry_run_free(&r);
}

/* A worker made before the request gets its job through a pipe: the
 * thread does not inherit the request (rule T), the pipe hands it over
 * (rule H, channels); carry_capture + carry_run carry it explicitly too
 * (rule X). */
Test(threads, a_pool_made_before_a_request_gets_it_through_a_pipe)
{
    struct carry_run_result r = probe(true, NULL, "pool");
    uint64_t request = carry_line_id(r.out, "request");
    cr_assert_neq(request, 0);
    cr_assert_eq(carry_line_id(r.out, "worker-plain"), request, "%s", r.out);
    assert_user(r.out, "worker-plain", "bob");
    cr_assert_eq(carry_line_id(r.out, "worker-run"), request);
    assert_user(r.out, "worker-run", "bob");
    /* carry_run gives back what was current: the pipe's hand-off. */
    cr_assert_eq(carry_line_id(r.out, "worker-after"), request);
    carry_run_free(&r);
}

/* Without channels the pipe hands nothing over; carry_run still does. */
Test(threads, without_channels_only_carry_run_hands_a_job_over)
{
    const char *env[] = {"CARRY_MODE=threads,epoll,accept,requests,loops", NULL};
    struct carry_run_result r = probe(true, env, "pool");
    uint64_t request = carry_line_id(r.out, "request");
    cr_assert_neq(request, 0);
    cr_assert_eq(carry_line_id(r.out, "worker-plain"), 0, "%s", r.out);
    cr_assert_eq(carry_line_id(r.out, "worker-run"), request);
    assert_user(r.out, "worker-run", "bob");
    cr_assert_eq(carry_line_id(r.out, "worker-after"), 0);
    carry_run_free(&r);
}

Test(threads, carry_run_nests_and_restores)
{
    struct carry_run_result r = probe(true, NULL, "run");
    char *ids = carry_line(r.out, "ids");
    char *a_hex = carry_field(ids, "a"), *b_hex = carry_field(ids, "b");
    uint64_t a = strtoull(a_hex, NULL, 16), b = strtoull(b_hex, NULL, 16);
    cr_assert(a != 0 && b != 0 && a != b);
    cr_assert_eq(carry_line_id(r.out, "outer-before"), a);
    cr_assert_eq(carry_line_id(r.out, "inner"), b);
    assert_user(r.out, "inner", "b");
    cr_assert_eq(carry_line_id(r.out, "outer-after"), a);
    assert_user(r.out, "outer-after", "a");
    cr_assert_not_null(strstr(r.out, "inner-returned inner-result\n"));
    cr_assert_eq(carry_line_id(r.out, "outer-none"), 0);
    cr_assert_eq(carry_line_id(r.out, "outer-end"), a);
    /* carry_begin(b) was the last context main entered. */
    cr_assert_eq(carry_line_id(r.out, "main"), b);
    cr_assert_eq(carry_line_id(r.out, "left"), 0);
    free(a_hex);
    free(b_hex);
    free(ids);
    carry_run_free(&r);
}

Test(threads, fresh_contexts_have_distinct_ids)
{
    struct carry_run_result r1 = probe(true, NULL, "threads");
    struct carry_run_result r2 = probe(true, NULL, "threads");
    /* Different processes: the pid part of the id differs. */
    cr_assert_neq(carry_line_id(r1.out, "main"), carry_line_id(r2.out, "main"));
    carry_run_free(&r1);
    carry_run_free(&r2);
}

/* Contexts made on the main thread (their owner) die on workers, while the
 * owner runs in some of them: none dies under a reference, and none is
 * left at exit (the stats report settles the owner's queue). */
Test(threads, contexts_handed_to_other_threads, .timeout = 120)
{
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    struct carry_run_result r = probe(true, env, "handoff");
    cr_assert_str_eq(r.out, "handoff bad=0 runs=25000\n", "%s", r.err);
    cr_assert_not_null(strstr(r.err, "contexts: 20,000 created"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, " 0 alive at exit"), "%s", r.err);
    cr_assert_null(strstr(r.err, "WARNING"), "%s", r.err);
    carry_run_free(&r);
}

Test(threads, the_api_from_many_threads_at_once, .timeout = 120)
{
    /* In the TSan build a data race makes the probe fail. */
    struct carry_run_result r = probe(true, NULL, "stress");
    cr_assert_str_eq(r.out, "stress bad=0 keys=4\n");
    cr_assert_null(strstr(r.err, "WARNING"), "%s", r.err);
    carry_run_free(&r);
}

/* One thread sets distinct keys in a shared context, growing its store's
 * index many times, while two others read: each finds every key set before
 * its read began.  In the TSan build a data race makes the probe fail. */
Test(threads, readers_while_a_store_grows, .timeout = 120)
{
    char keys[32], want[64];
    snprintf(keys, sizeof keys, "%d", 200000 / carry_test_scale());
    const char *argv[] = {carry_test_probe(), "storegrow", keys, NULL};
    struct carry_run_result r = carry_run_program(true, NULL, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    snprintf(want, sizeof want, "storegrow bad=0 keys=%s\n", keys);
    cr_assert_str_eq(r.out, want, "%s", r.err);
    cr_assert_null(strstr(r.err, "WARNING"), "%s", r.err);
    carry_run_free(&r);
}
