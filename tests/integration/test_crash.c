/* Crash reports (CARRY_CRASH): the report, and a death or a handler exactly
 * as without carry. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

/* The sanitizers would take these signals for reports of their own: leave
 * them to the program (and carry), with and without libcarry alike. */
#define LEAVE_SIGNALS "handle_segv=0:handle_sigbus=0:handle_sigill=0:handle_sigfpe=0:handle_abort=0"

/* Puts in env the sanitizers' options with LEAVE_SIGNALS added (owned[]
 * holds them: free them); returns how many. */
static size_t leave_signals(const char **env, char *owned[3])
{
    static const char *const sanitizers[] = {"ASAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"};
    size_t n = 0;
    for (size_t i = 0; i < 3; i++) {
        owned[i] = NULL;
        const char *options = getenv(sanitizers[i]);
        if (options != NULL) {
            cr_assert(asprintf(&owned[i], "%s=%s:%s", sanitizers[i], options, LEAVE_SIGNALS) > 0);
            env[n++] = owned[i];
        }
    }
    return n;
}

/* Runs the crash fixture, with setting (NAME=VALUE, or NULL) added to its
 * environment; coredir, if not NULL, is where it may dump core. */
static struct carry_run_result crash(bool preload, const char *setting, const char *kind,
                                     const char *how, const char *coredir)
{
    char *owned[3];
    const char *env[5];
    size_t n = leave_signals(env, owned);
    if (setting != NULL)
        env[n++] = setting;
    env[n] = NULL;
    const char *argv[] = {carry_test_fixture("crash"), kind, how, coredir, NULL};
    struct carry_run_result r = carry_run_program(preload, env, argv);
    for (size_t i = 0; i < 3; i++)
        free(owned[i]);
    return r;
}

/* What follows the fixture's first line ("context id=..."): the same with
 * and without carry when carry keeps the program's semantics. */
static const char *after_context(const char *out)
{
    const char *nl = strchr(out, '\n');
    return nl ? nl + 1 : out;
}

/* One report, naming the fixture's context, its keys, the signal (with
 * header, e.g. "SIGSEGV (11, SEGV_MAPERR") and a function of the fixture. */
static void assert_report(const struct carry_run_result *r, const char *header)
{
    char want[128];
    cr_assert_eq(carry_count(r->err, "carry: fatal signal "), 1, "%s", r->err);
    snprintf(want, sizeof want, "carry: fatal signal %s", header);
    cr_assert_not_null(strstr(r->err, want), "no '%s' in:\n%s", want, r->err);
    uint64_t id = carry_line_id(r->out, "context");
    cr_assert_neq(id, 0, "%s", r->out);
    snprintf(want, sizeof want, "carry: context %016" PRIx64 "\n", id);
    cr_assert_not_null(strstr(r->err, want), "no '%s' in:\n%s", want, r->err);
    /* Oldest key first; the newline in the value is shown as '?'. */
    cr_assert_not_null(strstr(r->err, "carry:   user=alice\ncarry:   request=GET /crash?\n"),
                       "%s", r->err);
    cr_assert_not_null(strstr(r->err, "carry: backtrace:\n"), "%s", r->err);
    cr_assert_not_null(strstr(r->err, " crash_fixture_"), "no fixture frame in:\n%s", r->err);
    cr_assert_not_null(strstr(r->err, "carry: end of crash report"), "%s", r->err);
}

static void remove_dir(const char *path)
{
    DIR *dir = opendir(path);
    cr_assert_not_null(dir);
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        char file[512];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.')
            unlink(file);
    }
    closedir(dir);
    rmdir(path);
}

/*
 * kind dies of sig with and without carry alike: the same wait status
 * (signal and core dump flag: both runs may dump core) and the same
 * output; with carry, after a report that starts with header.
 */
static void assert_dies_as_natively(const char *kind, int sig, const char *header)
{
    char dir[] = "/tmp/carry-crash-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct carry_run_result native = crash(false, NULL, kind, "plain", dir);
    struct carry_run_result carried = crash(true, NULL, kind, "plain", dir);
    remove_dir(dir);
    cr_assert(WIFSIGNALED(native.wait_status) && WTERMSIG(native.wait_status) == sig,
              "%s without carry: status %d\n%s", kind, native.status, native.err);
    cr_assert_eq(carried.wait_status, native.wait_status,
                 "%s: wait status %#x under carry, %#x without\n%s", kind, carried.wait_status,
                 native.wait_status, carried.err);
    cr_assert_str_eq(after_context(carried.out), after_context(native.out));
    cr_assert_null(strstr(native.err, "carry:"), "%s", native.err);
    assert_report(&carried, header);
    carry_run_free(&native);
    carry_run_free(&carried);
}

Test(crash, segv)
{
    assert_dies_as_natively("segv", SIGSEGV, "SIGSEGV (11, SEGV_MAPERR, address 0x10)");
}

Test(crash, bus)
{
    assert_dies_as_natively("bus", SIGBUS, "SIGBUS (7, BUS_ADRERR, address 0x");
}

Test(crash, ill)
{
    assert_dies_as_natively("ill", SIGILL, "SIGILL (4, ILL_ILLOPN)");
}

Test(crash, fpe)
{
    assert_dies_as_natively("fpe", SIGFPE, "SIGFPE (8, FPE_INTDIV)");
}

Test(crash, abort)
{
    assert_dies_as_natively("abrt", SIGABRT, "SIGABRT (6, SI_TKILL from pid ");
}

/* On the alternate stack carry gives the main thread. */
Test(crash, main_thread_stack_overflow)
{
    assert_dies_as_natively("overflow", SIGSEGV, "SIGSEGV (11, SEGV_");
}

/* Runs kind/how with and without carry: same status and output. */
static void compare(const char *kind, const char *how, const char *setting,
                    struct carry_run_result *native, struct carry_run_result *carried)
{
    *native = crash(false, NULL, kind, how, NULL);
    *carried = crash(true, setting, kind, how, NULL);
    cr_assert_eq(carried->status, native->status, "%s %s: status %d under carry, %d without\n%s",
                 kind, how, carried->status, native->status, carried->err);
    cr_assert_str_eq(after_context(carried->out), after_context(native->out), "%s %s", kind, how);
}

Test(crash, program_handler_runs_after_the_report)
{
    const char *kinds[] = {"segv", "fpe", "abrt"};
    const char *headers[] = {"SIGSEGV (11, ", "SIGFPE (8, ", "SIGABRT (6, "};
    const int signals[] = {SIGSEGV, SIGFPE, SIGABRT};
    for (size_t i = 0; i < 3; i++) {
        struct carry_run_result native, carried;
        compare(kinds[i], "handler", NULL, &native, &carried);
        cr_assert_eq(carried.status, 42, "%s", carried.err);
        /* sigaction shows the program its own handler, never carry's. */
        cr_assert_not_null(strstr(carried.out, "before handler=default flags=0 mask=0\n"
                                               "previous handler=default flags=0 mask=0\n"
                                               "after handler=own "),
                           "%s", carried.out);
        assert_report(&carried, headers[i]);
        char line[64];
        snprintf(line, sizeof line, "handler sig=%d\n", signals[i]);
        const char *end = strstr(carried.err, "carry: end of crash report; the program's handler");
        const char *handler = strstr(carried.err, line);
        cr_assert(end != NULL && handler != NULL && end < handler, "%s", carried.err);
        carry_run_free(&native);
        carry_run_free(&carried);
    }
}

/* Writing the report raises SIGPIPE: carry's, so the program never gets it. */
Test(crash, report_to_a_broken_pipe)
{
    struct carry_run_result native, carried;
    compare("segv", "brokenpipe", NULL, &native, &carried);
    cr_assert_eq(carried.status, 42, "%s", carried.out);
    cr_assert_not_null(strstr(carried.out, "handler sig=11 stderr=broken\n"), "%s", carried.out);
    carry_run_free(&native);
    carry_run_free(&carried);
}

Test(crash, handler_installed_with_signal_is_chained)
{
    struct carry_run_result native, carried;
    compare("segv", "signal", NULL, &native, &carried);
    cr_assert_eq(carried.status, 42, "%s", carried.err);
    cr_assert_not_null(strstr(carried.out, "signal-previous=default\nsignal-again=own\n"),
                       "%s", carried.out);
    cr_assert(strstr(carried.out, "signal-err=SIG_ERR errno=22\nafter handler=own ") ||
                  strstr(carried.out, "signal-err=untested\nafter handler=own "),
              "%s", carried.out);
    assert_report(&carried, "SIGSEGV (11, ");
    cr_assert_not_null(strstr(carried.err, "handler sig=11\n"), "%s", carried.err);
    carry_run_free(&native);
    carry_run_free(&carried);
}

/* The handler finds the default restored; when it returns, the fault
 * happens again and kills. */
Test(crash, sa_resethand)
{
    const char *kinds[] = {"segv", "ill", "abrt"};
    for (size_t i = 0; i < 3; i++) {
        struct carry_run_result native, carried;
        compare(kinds[i], "resethand", NULL, &native, &carried);
        cr_assert_geq(native.status, 128, "%s: %s", kinds[i], native.err);
        cr_assert_eq(carry_count(carried.out, "now=default\n"), 1, "%s", carried.out);
        cr_assert_eq(carry_count(carried.err, "carry: fatal signal "), 1, "%s", carried.err);
        carry_run_free(&native);
        carry_run_free(&carried);
    }
}

Test(crash, handler_installed_with_sysv_signal)
{
    struct carry_run_result native = crash(false, NULL, "segv", "sysv", NULL);
    struct carry_run_result carried = crash(true, NULL, "segv", "sysv", NULL);
    cr_assert_eq(native.status, 128 + SIGSEGV);
    cr_assert_eq(carried.status, native.status, "%s", carried.err);
    /* Native sysv_signal goes past TSan's sigaction, which then reports
     * flags as the kernel keeps them; carry's goes through it. */
    if (getenv("TSAN_OPTIONS") == NULL)
        cr_assert_str_eq(after_context(carried.out), after_context(native.out));
    cr_assert_not_null(strstr(carried.out, "sysv-previous=default\nafter handler=own "), "%s",
                       carried.out);
    cr_assert_eq(carry_count(carried.out, "now=default\n"), 1, "%s", carried.out);
    assert_report(&carried, "SIGSEGV (11, ");
    carry_run_free(&native);
    carry_run_free(&carried);
}

/* A program that recovers from a fault (siglongjmp) gets one report, for
 * its first fault; its later death is silent. */
Test(crash, one_report_per_process)
{
    struct carry_run_result native, carried;
    compare("segv", "recover", NULL, &native, &carried);
    cr_assert_eq(native.status, 128 + SIGSEGV);
    cr_assert_not_null(strstr(carried.out, "handler sig=11 recovering\nrecovered\n"), "%s",
                       carried.out);
    assert_report(&carried, "SIGSEGV (11, ");
    carry_run_free(&native);
    carry_run_free(&carried);
}

/* SIG_IGN stays in the kernel: raise() is ignored, and a real fault kills
 * as the kernel decides, with no report. */
Test(crash, ignored_signal)
{
    const char *kinds[] = {"fpe", "segv"};
    for (size_t i = 0; i < 2; i++) {
        struct carry_run_result native, carried;
        compare(kinds[i], "ignore", NULL, &native, &carried);
        cr_assert_not_null(strstr(carried.out, "after handler=ignore "), "%s", carried.out);
        cr_assert_not_null(strstr(carried.out, "survived raise\n"), "%s", carried.out);
        cr_assert_geq(carried.status, 128);
        cr_assert_null(strstr(carried.err, "carry:"), "%s", carried.err);
        carry_run_free(&native);
        carry_run_free(&carried);
    }
}

Test(crash, thread_without_context)
{
    struct carry_run_result native = crash(false, NULL, "segv", "thread", NULL);
    struct carry_run_result carried = crash(true, NULL, "segv", "thread", NULL);
    cr_assert_eq(native.status, 128 + SIGSEGV);
    cr_assert_eq(carried.status, 128 + SIGSEGV, "%s", carried.err);
    char *line = carry_line(carried.out, "thread");
    cr_assert_not_null(line, "%s", carried.out);
    char *tid = carry_field(line, "tid");
    char want[64];
    snprintf(want, sizeof want, ", thread %s \"", tid);
    cr_assert_not_null(strstr(carried.err, want), "no '%s' in:\n%s", want, carried.err);
    cr_assert_not_null(strstr(carried.err, "carry: context 0000000000000000 (none)\n"), "%s",
                       carried.err);
    cr_assert_not_null(strstr(carried.err, " crash_fixture_fault+0x"), "%s", carried.err);
    free(tid);
    free(line);
    carry_run_free(&native);
    carry_run_free(&carried);
}

/* In a request, the report names the request with the keys of its HTTP
 * head, then its connection with the connection's addresses: keys the
 * program never read, which carry writes in the handler from what it
 * kept. */
Test(crash, request_names_its_connection_and_addresses)
{
    struct carry_run_result r = crash(true, NULL, "segv", "request", NULL);
    cr_assert_eq(r.status, 128 + SIGSEGV, "%s", r.err);
    uint64_t id = carry_line_id(r.out, "context");
    cr_assert_neq(id, 0, "%s", r.out);
    char *line = carry_line(r.out, "addresses");
    cr_assert_not_null(line, "%s", r.out);
    char *peer = carry_field(line, "peer"), *local = carry_field(line, "local");
    char want[256];
    snprintf(want, sizeof want,
             "carry: context %016" PRIx64 "\ncarry:   http.method=GET\ncarry:   http.target=/crash\n"
             "carry:   request_id=r-1\ncarry:   user=alice\ncarry: request 1 of connection ",
             id);
    cr_assert_not_null(strstr(r.err, want), "no '%s' in:\n%s", want, r.err);
    snprintf(want, sizeof want, "\ncarry:   peer=%s\ncarry:   local=%s\ncarry: backtrace:", peer,
             local);
    cr_assert_not_null(strstr(r.err, want), "no '%s' in:\n%s", want, r.err);
    free(peer);
    free(local);
    free(line);
    carry_run_free(&r);
}

/* A child that crashes reports in its own right, and so does its parent. */
Test(crash, forked_child)
{
    struct carry_run_result native, carried;
    compare("segv", "fork", NULL, &native, &carried);
    cr_assert_eq(carried.status, 128 + SIGSEGV);
    cr_assert_not_null(strstr(carried.out, "child signal=11\n"), "%s", carried.out);
    cr_assert_eq(carry_count(carried.err, "carry: fatal signal SIGSEGV"), 2, "%s", carried.err);
    cr_assert_eq(carry_count(carried.err, "carry:   user=alice\n"), 2, "%s", carried.err);
    carry_run_free(&native);
    carry_run_free(&carried);
}

/* A wild handle makes libcarry itself fault: still a report and a SIGSEGV
 * death.  (Without libcarry carry_release does nothing.) */
Test(crash, inside_libcarry)
{
    struct carry_run_result r = crash(true, NULL, "carry", "plain", NULL);
    cr_assert_eq(r.status, 128 + SIGSEGV, "%s%s", r.out, r.err);
    assert_report(&r, "SIGSEGV (11, SEGV_MAPERR, address 0x10"); /* in the page at 0x1000 */
    cr_assert_not_null(strstr(r.err, "/libcarry.so+0x"), "%s", r.err);
    carry_run_free(&r);
}

Test(crash, crash_0_turns_reports_off)
{
    struct carry_run_result native, carried;
    compare("segv", "plain", "CARRY_CRASH=0", &native, &carried);
    cr_assert_eq(carried.wait_status, native.wait_status);
    cr_assert_str_empty(carried.err);
    carry_run_free(&native);
    carry_run_free(&carried);
}

Test(crash, bad_value_warns_once_and_reports)
{
    struct carry_run_result native, carried;
    compare("abrt", "plain", "CARRY_CRASH=yes", &native, &carried);
    cr_assert_eq(carry_count(carried.err, "carry: CARRY_CRASH=yes is invalid: it takes a number "
                                          "from 0 to 1; using 1\n"),
                 1, "%s", carried.err);
    assert_report(&carried, "SIGABRT (6, ");
    carry_run_free(&native);
    carry_run_free(&carried);
}

/* A passive program runs as if carry were not loaded: no handler. */
Test(crash, passive_program)
{
    const char *settings[] = {"CARRY_SKIP=crash", "CARRY_ONLY=nginx"};
    for (size_t i = 0; i < 2; i++) {
        struct carry_run_result native, carried;
        compare("segv", "handler", settings[i], &native, &carried);
        cr_assert_eq(carried.status, 42, "%s: %s", settings[i], carried.err);
        cr_assert_null(strstr(carried.err, "carry:"), "%s: %s", settings[i], carried.err);
        carry_run_free(&native);
        carry_run_free(&carried);
    }
}

/* CARRY_MODE=off propagates nothing, but the API's contexts exist. */
Test(crash, mode_off_still_reports)
{
    struct carry_run_result native, carried;
    compare("segv", "plain", "CARRY_MODE=off", &native, &carried);
    assert_report(&carried, "SIGSEGV (11, ");
    carry_run_free(&native);
    carry_run_free(&carried);
}

/* A process that never had a context has no request to name: no report,
 * and the signal does what it does without carry. */
Test(crash, no_report_without_a_context)
{
    const char *kinds[] = {"abrt", "segv"};
    for (size_t i = 0; i < 2; i++) {
        struct carry_run_result native, carried;
        compare(kinds[i], "bare", NULL, &native, &carried);
        cr_assert_geq(native.status, 128, "%s: %s", kinds[i], native.err);
        cr_assert_eq(carried.wait_status, native.wait_status, "%s: %s", kinds[i], carried.err);
        cr_assert_str_empty(carried.err, "%s", kinds[i]);
        carry_run_free(&native);
        carry_run_free(&carried);
    }
}

/* coreutils' timeout dies of the signal its child died of by raising it:
 * under carry, neither process had a context, and neither reports. */
Test(crash, timeout_passes_on_its_childs_abort_silently)
{
    if (access("/usr/bin/timeout", X_OK) != 0)
        cr_skip_test("no /usr/bin/timeout");
    /* A Debian binary has no sanitizer runtime: it is preloaded first. */
    const char *runtime = getenv("CARRY_TEST_SANITIZER_RUNTIME");
    char *preload, *owned[3];
    cr_assert(asprintf(&preload, "LD_PRELOAD=%s%s%s", runtime ? runtime : "",
                       runtime && *runtime ? ":" : "", carry_test_lib()) > 0);
    const char *env[5];
    size_t n = leave_signals(env, owned);
    env[n] = NULL;
    const char *argv[] = {"/usr/bin/timeout", "60", carry_test_fixture("crash"), "abrt", "bare",
                          NULL};
    struct carry_run_result native = carry_run_program(false, env, argv);
    env[n++] = preload;
    env[n] = NULL;
    struct carry_run_result carried = carry_run_program(false, env, argv);
    cr_assert_eq(native.status, 128 + SIGABRT, "%s", native.err);
    cr_assert_eq(carried.wait_status, native.wait_status, "%s", carried.err);
    cr_assert_str_empty(carried.err);
    free(preload);
    for (size_t i = 0; i < 3; i++)
        free(owned[i]);
    carry_run_free(&native);
    carry_run_free(&carried);
}
