/*
 * CARRY_STATS: the report printed at exit, to stderr or appended to a file,
 * counts what happened at each boundary; a report that cannot be written
 * gets one warning and the program runs on; a file opened at start-up
 * takes the report of every process, whatever it did since.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

Test(stats, a_mismatch_and_a_connection_are_counted)
{
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_probe(), "mismatch", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "mismatch read=3\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.err, "carry stats: pid "), "%s", r.err);
    cr_assert_eq(carry_number_after(r.err, "mismatches:"), 1, "%s", r.err);
    cr_assert_eq(carry_number_after(r.err, "connections:"), 1, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "1 accepted (each a new context), 1 connected"), "%s", r.err);
    /* The accepted connection's context and carry_begin's. */
    cr_assert_eq(carry_number_after(r.err, "contexts:"), 2, "%s", r.err);
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
    cr_assert_eq(carry_number_after(r.err, "mismatches:"), 0, "%s", r.err);
    carry_run_free(&r);
}

/* A new empty file, its name in path (a "/tmp/carry-stats-XXXXXX"). */
static void temp_file(char *path)
{
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

/* The text of the file at path, which is then removed (malloc'd). */
static char *take_file(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *text = calloc(1, 16384);
    fread(text, 1, 16383, f);
    fclose(f);
    unlink(path);
    return text;
}

Test(stats, a_file_gets_one_report_per_run)
{
    char path[] = "/tmp/carry-stats-XXXXXX";
    temp_file(path);
    char var[64];
    snprintf(var, sizeof var, "CARRY_STATS=%s", path);
    const char *env[] = {var, NULL};
    const char *argv[] = {carry_test_probe(), "mismatch", NULL};
    for (int i = 0; i < 2; i++) {
        struct carry_run_result r = carry_run_program(true, env, argv);
        cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
        cr_assert_str_empty(r.err, "the report goes to the file");
        carry_run_free(&r);
    }
    char *text = take_file(path);
    cr_assert_eq(carry_count(text, "carry stats: pid "), 2, "%s", text);
    cr_assert_eq(carry_count(text, "mismatches: 1 "), 2, "%s", text);
    free(text);
}

/* Runs probe mismatch with CARRY_STATS=target: the program runs as without
 * carry, and stderr has exactly one line, the warning that starts with
 * "carry: CARRY_STATS=<target>: cannot write it (<error>". */
static void assert_one_warning(const char *target, const char *error)
{
    char var[128], want[256];
    snprintf(var, sizeof var, "CARRY_STATS=%s", target);
    snprintf(want, sizeof want, "carry: CARRY_STATS=%s: cannot write it (%s", target, error);
    const char *env[] = {var, NULL};
    const char *argv[] = {carry_test_probe(), "mismatch", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    struct carry_run_result native = carry_run_program(false, NULL, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_str_eq(r.out, native.out);
    cr_assert_eq(carry_count(r.err, "\n"), 1, "%s", r.err);
    cr_assert_eq(strncmp(r.err, want, strlen(want)), 0, "no '%s' in:\n%s", want, r.err);
    cr_assert_not_null(strstr(r.err, "); no stats report\n"), "%s", r.err);
    carry_run_free(&r);
    carry_run_free(&native);
}

Test(stats, an_unwritable_path_warns_once_and_the_program_runs_on)
{
    assert_one_warning("/nonexistent-dir/report", "No such file or directory");
    assert_one_warning("/tmp", "Is a directory");
}

/* Opened at start-up, the file fails at exit: the writes are checked. */
Test(stats, a_full_device_warns_once)
{
    assert_one_warning("/dev/full", "No space left on device");
}

/* Read-only to a user; root may open it, and its write fails. */
Test(stats, a_file_that_refuses_writes_warns_once)
{
    assert_one_warning("/proc/version", geteuid() == 0 ? "Input/output error" : "Permission denied");
}

/* Runs stats_probe with args under carry, its report on stderr. */
static struct carry_run_result stats_probe(const char *report, const char *const *args)
{
    char var[128];
    snprintf(var, sizeof var, "CARRY_STATS=%s", report);
    const char *env[] = {var, NULL};
    const char *argv[5] = {carry_test_fixture("stats_probe")};
    for (size_t i = 0; args[i] != NULL && i + 2 < 5; i++)
        argv[i + 1] = args[i];
    return carry_run_program(true, env, argv);
}

/* The header names each process as it was named when it started, whatever
 * title it wrote since (nginx's "worker process is shutting down"); a
 * forked child keeps the name. */
Test(stats, the_report_names_the_process_as_it_started)
{
    const char *args[] = {"retitle", NULL};
    struct carry_run_result r = stats_probe("stderr", args);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char *child = carry_line(r.out, "child"), *pid = carry_field(child, "pid");
    char *parent = carry_field(r.out, "pid");
    char want[64];
    snprintf(want, sizeof want, "carry stats: pid %s (stats_probe), ", pid);
    cr_assert_not_null(strstr(r.err, want), "no '%s' in:\n%s", want, r.err);
    snprintf(want, sizeof want, "carry stats: pid %s (stats_probe), ", parent);
    cr_assert_not_null(strstr(r.err, want), "no '%s' in:\n%s", want, r.err);
    cr_assert_eq(carry_count(r.err, "carry stats: "), 2, "%s", r.err);
    free(child);
    free(pid);
    free(parent);
    carry_run_free(&r);
}

/* A forked child's report says how many of the contexts it counts alive
 * it inherited: here the one it exits in, which it made none of. */
Test(stats, a_childs_report_names_what_it_inherited)
{
    const char *args[] = {"forkctx", NULL};
    struct carry_run_result r = stats_probe("stderr", args);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "contexts: 0 created, 1 inherited at fork, 1 alive at peak, "
                                     "1 alive at exit\n"),
                       "%s", r.err);
    cr_assert_not_null(strstr(r.err, "contexts: 1 created, 1 alive at peak, 1 alive at exit\n"),
                       "the parent's: %s", r.err);
    carry_run_free(&r);
}

/* A worker that drops root still appends its report to the file its
 * master opened as root (mkstemp's file: mode 0600, root's). */
Test(stats, a_child_that_changed_user_writes_its_report)
{
    if (geteuid() != 0)
        cr_skip_test("needs root, to change to uid 65534");
    char path[] = "/tmp/carry-stats-XXXXXX";
    temp_file(path);
    const char *args[] = {"setuid", "65534", NULL};
    struct carry_run_result r = stats_probe(path, args);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_str_empty(r.err);
    char *child = carry_line(r.out, "child"), *pid = carry_field(child, "pid");
    char *text = take_file(path), want[64];
    snprintf(want, sizeof want, "carry stats: pid %s (stats_probe), ", pid);
    cr_assert_not_null(strstr(text, want), "no '%s' in:\n%s", want, text);
    cr_assert_eq(carry_count(text, "carry stats: "), 2, "%s", text);
    free(child);
    free(pid);
    free(text);
    carry_run_free(&r);
}

/* A program that closes every fd it did not open itself and reuses the
 * numbers: the report goes to its own file (opened again by its path),
 * never into the program's file. */
Test(stats, a_closed_report_fd_is_opened_again)
{
    char path[] = "/tmp/carry-stats-XXXXXX", own[] = "/tmp/carry-own-XXXXXX";
    temp_file(path);
    temp_file(own);
    const char *args[] = {"closefds", own, NULL};
    struct carry_run_result r = stats_probe(path, args);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_str_empty(r.err);
    char *report = take_file(path), *program = take_file(own);
    cr_assert_eq(carry_count(report, "carry stats: "), 1, "%s", report);
    cr_assert_str_empty(program);
    free(report);
    free(program);
    carry_run_free(&r);
}

/* The report to a pipe nobody reads raises SIGPIPE, which is carry's: the
 * program still exits as it chose. */
Test(stats, a_broken_stderr_does_not_kill_the_program)
{
    const char *args[] = {"brokenstderr", NULL};
    struct carry_run_result r = stats_probe("stderr", args);
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "pid="), "%s", r.out);
    carry_run_free(&r);
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
     * freed in its callback: 8,000 records made and forgotten, the
     * requests' in the requests themselves. */
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_fixture("uv_probe"), "churn", "2000", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "churn rounds=2000 callbacks=8000\n"), "%s", r.out);
    cr_assert_eq(carry_number_after(r.err, "library records:"), 0, "%s", r.err);
    long peak = carry_number_after(r.err, "alive at exit,");
    cr_assert(peak >= 50 && peak < 60, "50 timers in flight at most, and a few handles: %s",
              r.err);
    cr_assert_eq(carry_number_after(r.err, "holding theirs:"), 0, "%s", r.err);
    cr_assert_eq(carry_number_after(r.err, "in flight at exit,"), 150,
                 "50 rounds of 3 requests in flight at most: %s", r.err);
    cr_assert_eq(carry_number_after(r.err, "contexts:"), 2000, "%s", r.err);
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
    cr_assert_eq(carry_number_after(r.err, "contexts:"), 200, "%s", r.err);
    cr_assert_not_null(strstr(r.err, " alive at peak, 0 alive at exit\n"), "%s", r.err);
    carry_run_free(&r);
}
