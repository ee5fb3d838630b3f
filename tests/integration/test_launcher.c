/* scripts/carry, the launcher. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

static char *launcher(void)
{
    char *path;
    cr_assert(asprintf(&path, "%s/scripts/carry", carry_test_source()) > 0);
    return path;
}

static struct carry_run_result launch(const char *const *env, const char *const *args)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = launcher();
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    struct carry_run_result r = carry_run_program(false, env, argv);
    free((char *)argv[0]);
    return r;
}

Test(launcher, help_documents_every_option_and_variable)
{
    const char *args[] = {"--help", NULL};
    struct carry_run_result r = launch(NULL, args);
    cr_assert_eq(r.status, 0);
    const char *words[] = {"--mode", "--epoll", "--scope", "--tag", "--tag-format", "--trace",
                           "--export", "--service", "--stats", "--crash", "--debug", "--only",
                           "--skip", "--inherit", "--lib", "--print-env", "--version", "CARRY_MODE", "CARRY_EPOLL",
                           "CARRY_SCOPE", "CARRY_TAG", "CARRY_TAG_FORMAT", "CARRY_TRACE",
                           "OTEL_EXPORTER_OTLP_ENDPOINT", "CARRY_STATS", "CARRY_CRASH",
                           "CARRY_DEBUG", "CARRY_ONLY", "CARRY_SKIP", "CARRY_INHERIT", "CARRY_LIB"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        cr_assert_not_null(strstr(r.out, words[i]), "--help does not mention %s", words[i]);
    carry_run_free(&r);
}

Test(launcher, runs_a_program_under_carry)
{
    const char *args[] = {"--lib", carry_test_lib(), "--", carry_test_probe(), "threads", NULL};
    struct carry_run_result r = launch(NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_neq(carry_line_id(r.out, "t1"), 0);
    cr_assert_eq(carry_line_id(r.out, "t1"), carry_line_id(r.out, "main"));
    carry_run_free(&r);
}

Test(launcher, options_become_variables)
{
    const char *args[] = {"--lib", carry_test_lib(), "--mode", "off", "--debug", "1",
                          "--", carry_test_probe(), "threads", NULL};
    struct carry_run_result r = launch(NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(carry_line_id(r.out, "t1"), 0);
    cr_assert_not_null(strstr(r.err, "mode=0 "), "%s", r.err);
    carry_run_free(&r);
}

/* The trace options reach the program: a request turn of the probe in
 * otel-tagged form, its traceparent not adopted (--trace off). */
Test(launcher, trace_options_become_variables)
{
    const char *args[] = {"--lib", carry_test_lib(), "--trace", "off", "--scope", "request",
                          "--tag", "stdout", "--tag-format", "otel", "--",
                          carry_test_probe(), "turns", NULL};
    struct carry_run_result r = launch(NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *http = strstr(r.out, "turn http id=");
    cr_assert_not_null(http, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "trace_id="), "no otel tag in:\n%s", r.out);
    const char *trace = strstr(http, " trace_id=");
    cr_assert(trace != NULL && strncmp(trace + 10, "0af7651916cd43dd8448eb211c80319c", 32) != 0,
              "--trace off adopted the traceparent: %s", http);
    carry_run_free(&r);
}

static char *preload_seen(const char *existing)
{
    char *entry = NULL;
    if (existing)
        cr_assert(asprintf(&entry, "LD_PRELOAD=%s", existing) > 0);
    const char *env[] = {entry, NULL};
    const char *args[] = {"--lib", carry_test_lib(), "--", "/bin/sh", "-c",
                          "printf '%s\\n' \"$LD_PRELOAD\"", NULL};
    struct carry_run_result r = launch(env, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *seen = strndup(r.out, strcspn(r.out, "\n"));
    carry_run_free(&r);
    free(entry);
    return seen;
}

Test(launcher, prepends_to_ld_preload_once)
{
    const char *lib = carry_test_lib();
    char *seen = preload_seen(NULL);
    cr_assert_str_eq(seen, lib);
    free(seen);

    char *other, *want;
    cr_assert(asprintf(&other, "%s", "/usr/lib/libnothing-here.so") > 0);
    cr_assert(asprintf(&want, "%s:%s", lib, other) > 0);
    seen = preload_seen(other);
    cr_assert_str_eq(seen, want);
    free(seen);
    free(want);

    /* Already there: not added twice. */
    seen = preload_seen(lib);
    cr_assert_str_eq(seen, lib);
    free(seen);
    free(other);
}

Test(launcher, missing_library_is_a_clear_error)
{
    const char *args[] = {"--lib", "/nonexistent/libcarry.so", "--", "/bin/true", NULL};
    struct carry_run_result r = launch(NULL, args);
    cr_assert_eq(r.status, 127);
    cr_assert_not_null(strstr(r.err, "libcarry.so not found"), "%s", r.err);
    carry_run_free(&r);
}

Test(launcher, usage_errors)
{
    const char *none[] = {NULL};
    struct carry_run_result r = launch(NULL, none);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "carry"), "%s", r.err);
    carry_run_free(&r);

    const char *bad[] = {"--frobnicate", "--", "/bin/true", NULL};
    r = launch(NULL, bad);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "unknown option --frobnicate"), "%s", r.err);
    carry_run_free(&r);
}

Test(launcher, version_is_the_project_version)
{
    const char *args[] = {"--version", NULL};
    struct carry_run_result r = launch(NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *want;
    cr_assert(asprintf(&want, "carry %s\n", CARRY_TEST_VERSION) > 0);
    cr_assert_str_eq(r.out, want);
    free(want);
    carry_run_free(&r);
}

/* --print-env: LD_PRELOAD first (libcarry alone, whatever the caller's
 * LD_PRELOAD), then each variable the options set, in the order first
 * given, the last value winning; nothing is run. */
Test(launcher, print_env_prints_the_variables)
{
    const char *env[] = {"LD_PRELOAD=/usr/lib/libnothing-here.so", NULL};
    const char *args[] = {"--lib", carry_test_lib(), "--print-env", "--tag", "stderr",
                          "--mode=threads", "--stats", "--export", "http://127.0.0.1:4318",
                          "--tag", "stdout", NULL};
    struct carry_run_result r = launch(env, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *want;
    cr_assert(asprintf(&want,
                       "LD_PRELOAD=%s\nCARRY_TAG=stdout\nCARRY_MODE=threads\nCARRY_STATS=stderr\n"
                       "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318\n",
                       carry_test_lib()) > 0);
    cr_assert_str_eq(r.out, want);
    free(want);
    carry_run_free(&r);

    /* No option: LD_PRELOAD alone. */
    const char *bare[] = {"--lib", carry_test_lib(), "--print-env", NULL};
    r = launch(NULL, bare);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(asprintf(&want, "LD_PRELOAD=%s\n", carry_test_lib()) > 0);
    cr_assert_str_eq(r.out, want);
    free(want);
    carry_run_free(&r);
}

/* systemd's Environment= quoting: a value that needs it puts the whole
 * assignment in double quotes, with \, " and control characters escaped
 * and % doubled; $ and ' need nothing. */
Test(launcher, print_env_quotes_for_systemd)
{
    const char *args[] = {"--lib", carry_test_lib(), "--print-env=systemd",
                          "--service", "my \"edge\" 100% $HOME it's\\n\tx",
                          "--only", "nginx,redis-server", NULL};
    struct carry_run_result r = launch(NULL, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *want;
    cr_assert(asprintf(&want,
                       "LD_PRELOAD=%s\n"
                       "\"OTEL_SERVICE_NAME=my \\\"edge\\\" 100%%%% $HOME it's\\\\n\\tx\"\n"
                       "CARRY_ONLY=nginx,redis-server\n",
                       carry_test_lib()) > 0);
    cr_assert_str_eq(r.out, want);
    free(want);
    carry_run_free(&r);
}

/* --print-env=sh: lines a POSIX shell's eval reads back to the same
 * values, whatever they hold. */
Test(launcher, print_env_sh_round_trips_through_eval)
{
    const char *value = "it's a \"$HOME\" `x` \\ %% *\nnext line";
    char *script;
    cr_assert(asprintf(&script,
                       "eval \"$(\"$0\" --lib \"$1\" --print-env=sh --service \"$2\" --tag stderr)\" "
                       "&& printf '%%s|%%s|%%s' \"$LD_PRELOAD\" \"$CARRY_TAG\" \"$OTEL_SERVICE_NAME\"") > 0);
    char *carry = launcher();
    const char *argv[] = {"/bin/sh", "-c", script, carry, carry_test_lib(), value, NULL};
    struct carry_run_result r = carry_run_program(false, NULL, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *want;
    cr_assert(asprintf(&want, "%s|stderr|%s", carry_test_lib(), value) > 0);
    cr_assert_str_eq(r.out, want);
    free(want);
    free(carry);
    free(script);
    carry_run_free(&r);
}

Test(launcher, print_env_usage_errors)
{
    const char *program[] = {"--lib", carry_test_lib(), "--print-env", "--", "/bin/true", NULL};
    struct carry_run_result r = launch(NULL, program);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "--print-env runs no program"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    carry_run_free(&r);

    const char *format[] = {"--print-env=json", NULL};
    r = launch(NULL, format);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "--print-env takes systemd or sh"), "%s", r.err);
    carry_run_free(&r);

    const char *missing[] = {"--lib", "/nonexistent/libcarry.so", "--print-env", NULL};
    r = launch(NULL, missing);
    cr_assert_eq(r.status, 127);
    cr_assert_not_null(strstr(r.err, "libcarry.so not found"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    carry_run_free(&r);
}
