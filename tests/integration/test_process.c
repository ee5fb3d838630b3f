/* Rule F and CARRY_INHERIT: fork, exec, and fork under lock contention. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "run.h"

static struct carry_run_result probe(const char *const *env, const char *cmd, const char *arg)
{
    const char *argv[] = {carry_test_probe(), cmd, arg, NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "probe %s exited %d\n%s%s", cmd, r.status, r.out, r.err);
    return r;
}

Test(fork, child_continues_in_the_forking_threads_context)
{
    struct carry_run_result r = probe(NULL, "fork", NULL);
    uint64_t parent = carry_line_id(r.out, "parent");
    cr_assert_neq(parent, 0);
    cr_assert_eq(carry_line_id(r.out, "child"), parent);
    cr_assert(strstr(r.out, "child id=") != NULL && strstr(r.out, "user=carol") != NULL);
    uint64_t fresh = carry_line_id(r.out, "child-begun");
    cr_assert(fresh != 0 && fresh != parent);
    cr_assert_eq(carry_line_id(r.out, "parent-after"), parent);
    carry_run_free(&r);
}

/* A child forked while another thread walks the loaded objects inherits
 * the loader's lock held: its pipes and eventfds (hand-off channels, for
 * which carry asks whose code made them) must not wait for it. */
Test(fork, a_child_forked_during_an_object_walk_makes_its_pipes)
{
    struct carry_run_result r = probe(NULL, "forkpipe", NULL);
    cr_assert_not_null(strstr(r.out, "forkpipe child=0\n"), "%s%s", r.out, r.err);
    carry_run_free(&r);
}

Test(fork, no_deadlock_while_other_threads_hold_carrys_locks, .timeout = 120)
{
    struct carry_run_result r = probe(NULL, "forkstress", "300");
    if (strstr(r.out, "forkstress skipped"))
        cr_skip_test("%s", r.out);
    cr_assert_not_null(strstr(r.out, "forks=300 ok=300\n"), "%s%s", r.out, r.err);
    carry_run_free(&r);
}

static void assert_children(const char *out, int want_available)
{
    char needle[32];
    snprintf(needle, sizeof needle, "available=%d ", want_available);
    /* execv through environ, execve after vfork with an explicit
     * environment naming libcarry, posix_spawn with that environment. */
    cr_assert_eq(carry_count(out, needle), 3, "%s", out);
    cr_assert_eq(carry_count(out, "available="), 3, "%s", out);
}

Test(exec, children_run_under_carry_by_default)
{
    struct carry_run_result r = probe(NULL, "exec", carry_test_lib());
    char want[4096];
    snprintf(want, sizeof want, "own-preload=%s\n", carry_test_lib());
    cr_assert_not_null(strstr(r.out, want), "%s", r.out);
    assert_children(r.out, 1);
    carry_run_free(&r);
}

Test(exec, inherit_0_removes_libcarry_from_children)
{
    const char *env[] = {"CARRY_INHERIT=0", NULL};
    struct carry_run_result r = probe(env, "exec", carry_test_lib());
    cr_assert_not_null(strstr(r.out, "own-preload=-\n"), "%s", r.out);
    assert_children(r.out, 0);
    carry_run_free(&r);
}
