/* CARRY_TAG: tagprobe's lines, byte for byte, with and without carry. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

/* ---- Helpers ------------------------------------------------------------- */

static void adds(struct carry_text *t, const char *s)
{
    carry_text_add(t, s, strlen(s));
}

/* A fresh path for a file the fixture writes (removed by the caller). */
static char *tmp_path(void)
{
    char *path = strdup("/tmp/carry-tag-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    return path;
}

/* The id the fixture wrote for name in its ids text ("name <hex>"). */
static uint64_t id_of(const char *ids, const char *name)
{
    char *line = carry_line(ids, name);
    cr_assert_not_null(line, "no id for %s in:\n%s", name, ids);
    uint64_t id = strtoull(line + strlen(name) + 1, NULL, 16);
    free(line);
    return id;
}

static void tag_text(char out[32], uint64_t id)
{
    snprintf(out, 32, "[carry %016" PRIx64 "] ", id);
}

/* Runs argv, checks it exited 0, returns its output. */
static struct carry_run_result run(bool preload, const char *const *env, const char *const *argv)
{
    struct carry_run_result r = carry_run_program(preload, env, argv);
    cr_assert_eq(r.status, 0, "%s %s exited %d:\n%s\n%s", argv[0], argv[1], r.status, r.out,
                 r.err);
    return r;
}

static void assert_text(const char *got, const char *want, const char *what)
{
    if (strcmp(got, want) == 0)
        return;
    size_t i = 0;
    while (got[i] && got[i] == want[i])
        i++;
    size_t from = i > 60 ? i - 60 : 0;
    cr_assert_fail("%s differs at byte %zu:\ngot:  ...%.120s\nwant: ...%.120s", what, i, got + from,
            want + from);
}

/* ---- seq: every API, one thread, byte for byte ----------------------------- */

/*
 * What tagprobe seq writes.  {A} and {B} stand for the tags of its two
 * contexts on that output, {sA}/{sB} for the syslog tag, {big} for 6000
 * x's, {W} and {F} for 100 lines "w000".."w099" and "f000".."f099", each
 * starting with {A}.
 */
static const char seq_err[] =
    "plain 1\n"
    "{A}fprintf 2\n"
    "{A}write\n"
    "{A}span 1 end 2\n"
    "{A}multi 1\n{A}multi 2\n{A}multi 3\n"
    "{A}wv-ab\n{A}wv-c\n"
    "{A}begun in A, ended in B\n"
    "begun without, ended in A\n"
    "{B}fputs\n"
    "{B}fwrite 1\n{B}fwrite 2\n"
    "{B}cd\n"
    "{B}perror: No such file or directory\n"
    "{B}Permission denied\n"
    "{A}vfprintf x\n"
    "{A}dprintf 3\n{A}second\n"
    "{A}vdprintf\n"
    "{A}a\n{A}b\n"
    "tagprobe: {sB}syslog 5 Permission denied\n"
    "tagprobe: {sB}vsyslog v\n"
    "tagprobe: syslog none\n"
    "{A}{big}\n"
    "{W}"
    "{F}"
    "{A}child\n"
    "last\n";

static const char seq_out[] =
    "{A}printf 1\n"
    "{A}puts\n"
    "{A}p\n"
    "none 2\n"
    "{B}vprintf 3\n"
    "{B}fprintf half, raw rest\n"
    "{B}raw stdout\n"
    "format without a newline at its end\n"
    "{A}after\n"
    "{A}fw\n"
    "{A}fputs out\n";

struct tags {
    uint64_t a, b;  /* ids */
    bool fd;        /* this output is tagged */
    bool syslog;    /* syslog is tagged */
};

static char *expand(const char *template, struct tags t)
{
    char ta[32] = "", tb[32] = "", sa[32] = "", sb[32] = "";
    if (t.fd) {
        tag_text(ta, t.a);
        tag_text(tb, t.b);
    }
    if (t.syslog) {
        tag_text(sa, t.a);
        tag_text(sb, t.b);
    }
    struct carry_text out = {0};
    for (const char *p = template; *p;) {
        if (strncmp(p, "{A}", 3) == 0) {
            adds(&out, ta);
            p += 3;
        } else if (strncmp(p, "{B}", 3) == 0) {
            adds(&out, tb);
            p += 3;
        } else if (strncmp(p, "{sA}", 4) == 0) {
            adds(&out, sa);
            p += 4;
        } else if (strncmp(p, "{sB}", 4) == 0) {
            adds(&out, sb);
            p += 4;
        } else if (strncmp(p, "{big}", 5) == 0) {
            for (int i = 0; i < 6000; i++)
                adds(&out, "x");
            p += 5;
        } else if (strncmp(p, "{W}", 3) == 0 || strncmp(p, "{F}", 3) == 0) {
            for (int i = 0; i < 100; i++) {
                char line[16];
                snprintf(line, sizeof line, "%c%03d\n", p[1] == 'W' ? 'w' : 'f', i);
                adds(&out, ta);
                adds(&out, line);
            }
            p += 3;
        } else {
            carry_text_add(&out, p++, 1);
        }
    }
    return out.s;
}

static const char *const seq_fixtures[] = {"tagprobe", "tagprobe_fortify"};

/* Runs tagprobe seq (extra: more arguments) and checks both outputs. */
static void check_seq(const char *fixture, bool preload, const char *tag_env, bool out_tagged,
                      bool err_tagged, bool syslog_tagged, const char *const *extra)
{
    char *ids_path = tmp_path();
    const char *argv[8] = {carry_test_fixture(fixture), "seq", ids_path};
    for (size_t i = 0; extra && extra[i]; i++)
        argv[3 + i] = extra[i];
    const char *env[] = {tag_env, NULL};
    struct carry_run_result r = run(preload, tag_env ? env : NULL, argv);
    char *ids = carry_read_file(ids_path);
    struct tags t = {id_of(ids, "A"), id_of(ids, "B"), err_tagged, syslog_tagged};
    if (preload)
        cr_assert(t.a != 0 && t.b != 0 && t.a != t.b, "%s", ids);
    char what[128];
    snprintf(what, sizeof what, "%s stderr (%s, %s)", fixture, preload ? "carry" : "no carry",
             tag_env ? tag_env : "CARRY_TAG unset");
    char *want_err = expand(seq_err, t);
    assert_text(r.err, want_err, what);
    t.fd = out_tagged;
    char *want_out = expand(seq_out, t);
    const char *out = r.out;
    char *file = NULL;
    if (extra && extra[0] && strcmp(extra[0], "--stdout-file") == 0)
        out = file = carry_read_file(extra[1]);
    snprintf(what, sizeof what, "%s stdout (%s, %s)", fixture, preload ? "carry" : "no carry",
             tag_env ? tag_env : "CARRY_TAG unset");
    assert_text(out, want_out, what);
    free(file);
    free(want_out);
    free(want_err);
    free(ids);
    unlink(ids_path);
    free(ids_path);
    carry_run_free(&r);
}

Test(tag, untagged_output_is_byte_identical)
{
    for (size_t f = 0; f < 2; f++) {
        check_seq(seq_fixtures[f], false, NULL, false, false, false, NULL);
        check_seq(seq_fixtures[f], true, NULL, false, false, false, NULL);
        check_seq(seq_fixtures[f], true, "CARRY_TAG=off", false, false, false, NULL);
        check_seq(seq_fixtures[f], true, "CARRY_TAG=", false, false, false, NULL);
    }
}

Test(tag, every_api_tags_its_lines)
{
    for (size_t f = 0; f < 2; f++)
        check_seq(seq_fixtures[f], true, "CARRY_TAG=stdout,stderr,syslog", true, true, true,
                  NULL);
}

Test(tag, each_output_on_its_own)
{
    check_seq("tagprobe", true, "CARRY_TAG=stderr", false, true, false, NULL);
    check_seq("tagprobe", true, "CARRY_TAG=stdout", true, false, false, NULL);
    check_seq("tagprobe_fortify", true, "CARRY_TAG=syslog", false, false, true, NULL);
}

Test(tag, stdout_to_a_file_and_every_buffering)
{
    char *path = tmp_path();
    const char *to_file[] = {"--stdout-file", path, NULL};
    check_seq("tagprobe", true, "CARRY_TAG=stdout,stderr", true, true, false, to_file);
    check_seq("tagprobe", false, NULL, false, false, false, to_file);
    const char *modes[] = {"none", "line", "full"};
    for (size_t i = 0; i < 3; i++) {
        const char *buf[] = {"--stdout-buf", modes[i], NULL};
        check_seq("tagprobe_fortify", true, "CARRY_TAG=stdout,stderr", true, true, false, buf);
    }
    unlink(path);
    free(path);
}

Test(tag, unknown_names_warn_once_and_the_others_apply)
{
    const char *warning = "carry: CARRY_TAG=stderr,bogus,Stdout is invalid: it takes off, or a "
                          "comma list of stdout,stderr,syslog; ignoring bogus,Stdout, tagging "
                          "stderr\n";
    char *ids_path = tmp_path();
    const char *argv[] = {carry_test_fixture("tagprobe"), "seq", ids_path, NULL};
    const char *env[] = {"CARRY_TAG=stderr,bogus,Stdout", NULL};
    struct carry_run_result r = run(true, env, argv);
    char *ids = carry_read_file(ids_path);
    struct tags t = {id_of(ids, "A"), id_of(ids, "B"), true, false};
    cr_assert_eq(strncmp(r.err, warning, strlen(warning)), 0, "%s", r.err);
    cr_assert_eq(carry_count(r.err, "carry: "), 1, "one warning, even across fork:\n%s", r.err);
    char *want = expand(seq_err, t);
    assert_text(r.err + strlen(warning), want, "stderr");
    t.fd = false;
    char *want_out = expand(seq_out, t);
    assert_text(r.out, want_out, "stdout");
    free(want);
    free(want_out);
    free(ids);
    unlink(ids_path);
    free(ids_path);
    carry_run_free(&r);
}

/* ---- threads: lines are never split, merged or mis-tagged ------------------ */

struct seen {
    int threads, lines;
    char *hit; /* [thread * lines + n] */
};

/* Checks one line: "[carry <id>] " iff it was written in a context (for
 * syslog's lines, after "tagprobe: "), with the id of its thread. */
static void check_line(const char *line, size_t len, const uint64_t *ids, bool tagged,
                       struct seen *seen)
{
    char buf[256];
    cr_assert_lt(len, sizeof buf, "line too long: %.*s", (int)len, line);
    memcpy(buf, line, len);
    buf[len] = '\0';
    const char *p = buf;
    bool syslog = strncmp(p, "tagprobe: ", 10) == 0;
    if (syslog)
        p += 10;
    uint64_t id = 0;
    if (strncmp(p, "[carry ", 7) == 0) {
        char *end;
        id = strtoull(p + 7, &end, 16);
        cr_assert(end == p + 23 && strncmp(end, "] ", 2) == 0, "bad tag: %s", buf);
        p += 25;
    }
    int t, n, used = 0;
    char api[16], ctx[8];
    cr_assert_eq(sscanf(p, "t%d n%d %15s %7s %n", &t, &n, api, ctx, &used), 4, "garbled: %s",
                 buf);
    cr_assert(t >= 0 && t < seen->threads && n >= 0 && n < seen->lines, "garbled: %s", buf);
    /* The rest: x's, then perror's message. */
    const char *rest = p + used;
    size_t xs = strspn(rest, "x");
    cr_assert_eq(xs, (size_t)(n % 37), "garbled: %s", buf);
    const char *want_rest = strcmp(api, "perror") == 0 ? ": Numerical argument out of domain" : "";
    cr_assert_str_eq(rest + xs, want_rest, "garbled: %s", buf);
    bool in_ctx = strcmp(ctx, "ctx") == 0;
    cr_assert(in_ctx || strcmp(ctx, "none") == 0, "garbled: %s", buf);
    if (tagged && in_ctx)
        cr_assert_eq(id, ids[t], "wrong id: %s (thread %d is %016" PRIx64 ")", buf, t, ids[t]);
    else
        cr_assert_eq(id, 0, "tagged without a context or without CARRY_TAG: %s", buf);
    cr_assert_eq(seen->hit[t * seen->lines + n]++, 0, "twice: %s", buf);
}

static void check_lines(const char *text, const uint64_t *ids, bool tagged, struct seen *seen)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "last line unfinished: %s", p);
        check_line(p, (size_t)(nl - p), ids, tagged, seen);
        p = nl + 1;
    }
}

static void check_threads(bool preload, const char *tag_env)
{
    enum { THREADS = 4 };
    int lines = 1200 / carry_test_scale();
    char *ids_path = tmp_path(), n_lines[16];
    snprintf(n_lines, sizeof n_lines, "%d", lines);
    const char *argv[] = {carry_test_fixture("tagprobe"), "threads", ids_path, "4", n_lines, NULL};
    const char *env[] = {tag_env, NULL};
    struct carry_run_result r = run(preload, tag_env ? env : NULL, argv);
    char *ids_text = carry_read_file(ids_path);
    uint64_t ids[THREADS];
    for (int t = 0; t < THREADS; t++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", t);
        ids[t] = id_of(ids_text, name);
        if (preload)
            cr_assert_neq(ids[t], 0);
    }
    struct seen seen = {THREADS, lines, calloc((size_t)THREADS * (size_t)lines, 1)};
    bool tagged = tag_env != NULL;
    check_lines(r.out, ids, tagged, &seen);
    check_lines(r.err, ids, tagged, &seen);
    for (int i = 0; i < THREADS * lines; i++)
        cr_assert_eq(seen.hit[i], 1, "line t%d n%d missing", i / lines, i % lines);
    free(seen.hit);
    free(ids_text);
    unlink(ids_path);
    free(ids_path);
    carry_run_free(&r);
}

Test(tag, threads_never_split_merge_or_mistag_a_line)
{
    check_threads(true, "CARRY_TAG=stdout,stderr,syslog");
}

Test(tag, threads_untagged_as_without_carry)
{
    check_threads(false, NULL);
    check_threads(true, NULL);
}

/* ---- bad input: stderr closed, moved, taken by a connection ---------------- */

Test(tag, closed_stderr_keeps_the_native_results)
{
    const char *argv[] = {carry_test_fixture("tagprobe"), "closed", NULL};
    struct carry_run_result native = run(false, NULL, argv);
    const char *env[] = {"CARRY_TAG=stderr,syslog", NULL};
    struct carry_run_result tagged = run(true, env, argv);
    assert_text(tagged.out, native.out, "results with stderr closed");
    cr_assert_not_null(strstr(native.out, "write rc=-1 errno=EBADF\n"), "%s", native.out);
    cr_assert_str_empty(tagged.err);
    carry_run_free(&native);
    carry_run_free(&tagged);
}

Test(tag, stderr_moved_to_a_file_is_tagged_there)
{
    static const char want[] = "{A}dup2 1\n"
                               "{A}dup2 raw\n"
                               "{A}dup2 perror: No such file or directory\n"
                               "reopened none\n"
                               "{A}reopened 2\n"
                               "{A}reopened raw\n";
    for (int preload = 0; preload < 2; preload++) {
        char *path = tmp_path();
        const char *argv[] = {carry_test_fixture("tagprobe"), "redirect", path, NULL};
        const char *env[] = {"CARRY_TAG=stderr", NULL};
        struct carry_run_result r = run(preload, preload ? env : NULL, argv);
        char *file = carry_read_file(path);
        struct tags t = {id_of(r.out, "A"), 0, preload, false};
        char *expected = expand(want, t);
        assert_text(file, expected, preload ? "file with carry" : "file without carry");
        free(expected);
        free(file);
        unlink(path);
        free(path);
        carry_run_free(&r);
    }
}

Test(tag, a_connection_on_fd_1_is_never_tagged)
{
    const char *argv[] = {carry_test_fixture("tagprobe"), "conn", NULL};
    const char *env[] = {"CARRY_TAG=stdout,stderr", NULL};
    struct carry_run_result r = run(true, env, argv);
    uint64_t c = id_of(r.out, "C");
    cr_assert_neq(c, 0, "accept made a context: %s", r.out);
    char want[128], tag[32];
    tag_text(tag, c);
    snprintf(want, sizeof want, "%sconn log\ngot=protocol\n", tag);
    assert_text(r.err, want, "stderr");
    carry_run_free(&r);
}

/* A line that the _unlocked functions (which carry does not see) begin or
 * end on a buffered stream: carry reads where the line stands from the
 * stream's own buffer, so a tag never lands in the middle of a line; a
 * line carry did not begin stays untagged, one it begins after an unseen
 * line end is tagged. */
Test(tag, lines_begun_or_ended_unseen_are_never_cut)
{
    const char *argv[] = {carry_test_fixture("tagprobe"), "unlocked", NULL};
    const char *env[] = {"CARRY_TAG=stdout", NULL};
    struct carry_run_result r = run(true, env, argv);
    char want[256], tag[32];
    tag_text(tag, id_of(r.err, "A"));
    snprintf(want, sizeof want, "abcdef\n%sghijkl\n%smno\npqr\nstuv\n", tag, tag);
    assert_text(r.out, want, "stdout");
    carry_run_free(&r);
}
