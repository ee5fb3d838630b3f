/* The CARRY_* variables as a program under libcarry sees them. */
#include <criterion/criterion.h>
#include <string.h>

#include "run.h"

static struct carry_run_result probe(const char *const *env, const char *cmd)
{
    const char *argv[] = {carry_test_probe(), cmd, NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    return r;
}

struct bad_value {
    const char *assignment;
    const char *warning;
};

static const struct bad_value bad_values[] = {
    {"CARRY_MODE=bogus", "carry: CARRY_MODE=bogus is invalid: it takes off, threads, events, all, "
                         "or a comma list of threads,epoll,accept,requests,loops,channels,dataflow; using events\n"},
    {"CARRY_MODE=threads,nope", "carry: CARRY_MODE=threads,nope is invalid"},
    {"CARRY_SCOPE=session", "carry: CARRY_SCOPE=session is invalid: it takes request or connection; "
                            "using request\n"},
    {"CARRY_MODE=", "carry: CARRY_MODE= is invalid"},
    {"CARRY_MODE=events,", "carry: CARRY_MODE=events, is invalid"},
    {"CARRY_MODE=threads,,epoll", "carry: CARRY_MODE=threads,,epoll is invalid"},
    {"CARRY_DEBUG=9", "carry: CARRY_DEBUG=9 is invalid: it takes a number from 0 to 3; using 0\n"},
    {"CARRY_DEBUG=1x", "carry: CARRY_DEBUG=1x is invalid"},
    {"CARRY_INHERIT=yes", "carry: CARRY_INHERIT=yes is invalid: it takes a number from 0 to 1; "
                          "using 1\n"},
    {"CARRY_CRASH=on", "carry: CARRY_CRASH=on is invalid: it takes a number from 0 to 1; using 1\n"},
};

Test(config, bad_values_warn_once_and_fall_back_to_the_default)
{
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        const char *env[] = {bad_values[i].assignment, NULL};
        struct carry_run_result r = probe(env, "threads");
        cr_assert_eq(carry_count(r.err, bad_values[i].warning), 1, "%s gave:\n%s",
                     bad_values[i].assignment, r.err);
        cr_assert_eq(carry_count(r.err, "carry:"), 1, "exactly one line: %s", r.err);
        /* The default mode (events) includes threads. */
        cr_assert_neq(carry_line_id(r.out, "t1"), 0, "%s", bad_values[i].assignment);
        cr_assert_eq(carry_line_id(r.out, "t1"), carry_line_id(r.out, "main"));
        carry_run_free(&r);
    }
}

Test(config, good_values_are_silent)
{
    const char *env[] = {"CARRY_MODE=threads,epoll", "CARRY_DEBUG=0", "CARRY_INHERIT=1",
                         "CARRY_CRASH=0", NULL};
    struct carry_run_result r = probe(env, "threads");
    cr_assert_str_empty(r.err);
    carry_run_free(&r);
}

Test(config, debug_1_reports_the_configuration)
{
    const char *env[] = {"CARRY_DEBUG=1", "CARRY_MODE=threads", NULL};
    struct carry_run_result r = probe(env, "available");
    cr_assert_not_null(strstr(r.err, "carry: active=1 mode=0x1 inherit=1 in probe\n"), "%s", r.err);
    carry_run_free(&r);
}

static int available_with(const char *a, const char *b)
{
    const char *env[] = {a, b, NULL};
    struct carry_run_result r = probe(env, "available");
    int available = strstr(r.out, "available=1 ") != NULL;
    cr_assert(available || strstr(r.out, "available=0 "), "%s", r.out);
    carry_run_free(&r);
    return available;
}

Test(config, only_and_skip_select_programs)
{
    cr_assert_eq(available_with("CARRY_ONLY=probe", NULL), 1);
    cr_assert_eq(available_with("CARRY_ONLY=nginx,probe,redis-server", NULL), 1);
    cr_assert_eq(available_with("CARRY_ONLY=nginx", NULL), 0);
    cr_assert_eq(available_with("CARRY_ONLY=", NULL), 1, "empty means unset");
    cr_assert_eq(available_with("CARRY_SKIP=probe", NULL), 0);
    cr_assert_eq(available_with("CARRY_SKIP=sh,probe", NULL), 0);
    cr_assert_eq(available_with("CARRY_SKIP=prob", NULL), 1, "whole names only");
    cr_assert_eq(available_with("CARRY_ONLY=probe", "CARRY_SKIP=probe"), 0);
}

Test(config, passive_program_does_not_propagate)
{
    const char *env[] = {"CARRY_SKIP=probe", NULL};
    struct carry_run_result r = probe(env, "threads");
    cr_assert_eq(carry_line_id(r.out, "main"), 0);
    cr_assert_eq(carry_line_id(r.out, "t1"), 0);
    carry_run_free(&r);
}
