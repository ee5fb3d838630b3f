/*
 * CARRY_STATS: the report printed at exit, to stderr or appended to a file,
 * counts what happened at each boundary; a path that cannot be written
 * gets one warning and the program runs on.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

/* The number after "label" in text (commas dropped), or -1. */
static long number_after(const char *text, const char *label)
{
    const char *p = strstr(text, label);
    if (p == NULL)
        return -1;
    p += strlen(label);
    while (*p == ' ')
        p++;
    char digits[32];
    size_t n = 0;
    for (; (*p >= '0' && *p <= '9') || *p == ','; p++)
        if (*p != ',' && n + 1 < sizeof digits)
            digits[n++] = *p;
    digits[n] = '\0';
    return n ? atol(digits) : -1;
}

Test(stats, a_mismatch_and_a_connection_are_counted)
{
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_probe(), "mismatch", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "mismatch read=3\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.err, "carry stats: pid "), "%s", r.err);
    cr_assert_eq(number_after(r.err, "mismatches:"), 1, "%s", r.err);
    cr_assert_eq(number_after(r.err, "connections:"), 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "1 accepted (each a new context), 1 connected"), "%s", r.err);
    /* The accepted connection's context and carry_begin's. */
    cr_assert_eq(number_after(r.err, "contexts:"), 2, "%s", r.err);
    /* The connection, never closed, still owns its context at exit. */
    cr_assert_not_null(strstr(r.err, "2 alive at peak, 1 alive at exit"), "%s", r.err);
    carry_run_free(&r);
}

Test(stats, every_libuv_callback_is_counted)
{
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_fixture("uv_probe"), "contexts", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    const char *row = strstr(r.err, "\n  libuv ");
    cr_assert_not_null(row, "%s", r.err);
    char name[16];
    long captures, restores, none;
    cr_assert_eq(sscanf(row, " %15s %ld %ld %ld", name, &captures, &restores, &none), 4, "%s",
                 r.err);
    /* uv_probe's 17 callbacks plus its closes, each scheduled in a context. */
    cr_assert_geq(restores, 17, "%s", r.err);
    cr_assert_geq(captures, 17, "%s", r.err);
    cr_assert_eq(number_after(r.err, "mismatches:"), 0, "%s", r.err);
    carry_run_free(&r);
}

Test(stats, a_file_gets_one_report_per_run)
{
    char path[] = "/tmp/carry-stats-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char var[64];
    snprintf(var, sizeof var, "CARRY_STATS=%s", path);
    const char *env[] = {var, NULL};
    const char *argv[] = {carry_test_probe(), "mismatch", NULL};
    for (int i = 0; i < 2; i++) {
        struct carry_run_result r = carry_run_program(true, env, argv);
        cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
        cr_assert_null(strstr(r.err, "carry stats"), "the report goes to the file: %s", r.err);
        carry_run_free(&r);
    }
    FILE *f = fopen(path, "r");
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    cr_assert_eq(carry_count(text, "carry stats: pid "), 2, "%s", text);
    cr_assert_eq(carry_count(text, "mismatches: 1 "), 2, "%s", text);
}

Test(stats, an_unwritable_path_warns_once_and_the_program_runs_on)
{
    const char *env[] = {"CARRY_STATS=/nonexistent-dir/report", NULL};
    const char *argv[] = {carry_test_probe(), "mismatch", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    struct carry_run_result native = carry_run_program(false, NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_str_eq(r.out, native.out);
    cr_assert_eq(carry_count(r.err, "carry: "), 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "CARRY_STATS=/nonexistent-dir/report: cannot write it"), "%s",
                       r.err);
    carry_run_free(&r);
    carry_run_free(&native);
}

Test(stats, nothing_without_the_variable)
{
    const char *argv[] = {carry_test_probe(), "mismatch", NULL};
    struct carry_run_result r = carry_run_program(true, NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_str_eq(r.err, "");
    carry_run_free(&r);
}

Test(stats, library_records_do_not_grow_with_churn)
{
    /* 2,000 rounds of a timer, a pool job, an fs request and a write, each
     * freed in its callback: 8,000 records made and forgotten. */
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_fixture("uv_probe"), "churn", "2000", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "churn rounds=2000 callbacks=8000\n"), "%s", r.out);
    cr_assert_eq(number_after(r.err, "library records:"), 0, "%s", r.err);
    long peak = number_after(r.err, "alive at exit,");
    cr_assert(peak >= 200 && peak < 250, "50 rounds of 4 in flight at most, and a few handles: %s",
              r.err);
    cr_assert_eq(number_after(r.err, "contexts:"), 2000, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "0 alive at exit\n"), "%s", r.err);
    carry_run_free(&r);
}

Test(stats, stopped_libuv_handles_keep_no_context_alive)
{
    /* 200 rounds, each in a context of its own, on handles that are
     * stopped (or fire once) and never closed. */
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_fixture("uv_probe"), "stops", "200", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_str_eq(r.out, "stops rounds=200 fired=200 mismatched=0\n", "%s", r.err);
    cr_assert_eq(number_after(r.err, "contexts:"), 200, "%s", r.err);
    cr_assert_not_null(strstr(r.err, " alive at peak, 0 alive at exit\n"), "%s", r.err);
    carry_run_free(&r);
}
