/* carry.h in a program run without libcarry, and with it. */
#include <criterion/criterion.h>
#include <string.h>

#include "run.h"

static struct carry_run_result available(bool preload, const char *const *env)
{
    const char *argv[] = {carry_test_probe(), "available", NULL};
    struct carry_run_result r = carry_run_program(preload, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    return r;
}

Test(header, without_libcarry_everything_is_a_no_op)
{
    struct carry_run_result r = available(false, NULL);
    cr_assert_str_eq(r.out, "available=0 id=0000000000000000 begin=null run=called set=-1 "
                            "errno=ENOSYS\n");
    carry_run_free(&r);
}

Test(header, with_libcarry_it_is_found)
{
    struct carry_run_result r = available(true, NULL);
    char *line = carry_line(r.out, "available=1");
    cr_assert_not_null(line, "%s", r.out);
    cr_assert_not_null(strstr(line, "begin=ctx run=called set=-1 errno=ESRCH"), "%s", line);
    cr_assert_neq(carry_line_id(r.out, "available=1"), 0);
    free(line);
    carry_run_free(&r);
}

Test(header, threads_without_libcarry_see_no_context)
{
    const char *argv[] = {carry_test_probe(), "threads", NULL};
    struct carry_run_result r = carry_run_program(false, NULL, argv);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(carry_line_id(r.out, "main"), 0);
    cr_assert_eq(carry_line_id(r.out, "t1"), 0);
    carry_run_free(&r);
}

Test(header, bad_input_gets_documented_errors)
{
    const char *argv[] = {carry_test_probe(), "errors", NULL};
    struct carry_run_result r = carry_run_program(true, NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    const char *want =
        "set-no-context rc=-1 errno=ESRCH\n"
        "unset-no-context rc=-1 errno=ESRCH\n"
        "set-null-key rc=-1 errno=EINVAL\n"
        "set-empty-key rc=-1 errno=EINVAL\n"
        "set-long-key rc=-1 errno=ENAMETOOLONG\n"
        "set-max-key rc=0 errno=0\n"
        "set-null-value rc=-1 errno=EINVAL\n"
        "set-long-value rc=-1 errno=E2BIG\n"
        "set-max-value rc=0 errno=0\n"
        "unset-absent rc=-1 errno=ENOENT\n"
        "unset-null rc=-1 errno=EINVAL\n"
        "unset-present rc=0 errno=0\n"
        "unset-again rc=-1 errno=ENOENT\n"
        "get-null null\n"
        "get-unset null\n"
        "run-null-fn rc=-1 errno=EINVAL\n";
    cr_assert_eq(strncmp(r.out, want, strlen(want)), 0, "got:\n%s", r.out);
    /* The double release is reported once and ignored: the context lives. */
    cr_assert_eq(carry_count(r.err, "more releases than captures"), 1, "%s", r.err);
    cr_assert_neq(carry_line_id(r.out, "after-double-release"), 0);
    carry_run_free(&r);
}
