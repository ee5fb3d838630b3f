/*
 * Rules D, E, C and R on raw epoll servers: epoll_server in every shape
 * under libcarry, driven by epoll_client, which checks that every reply ran
 * in its own request's context, a child of its connection's.  Both dispatch modes; fd churn; a server
 * that closes one fd while another's event is handled; the same servers
 * without carry; ownership through dup and borrowed outbound fds; bad input;
 * a loop nested in a handler (epoll_nested).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

static char *drive(bool preload, const char *epoll_mode, const char *server_mode,
                   const char *conns, long requests, const char *extra)
{
    char mode_env[32];
    snprintf(mode_env, sizeof mode_env, "CARRY_EPOLL=%s", epoll_mode);
    const char *env[] = {mode_env, NULL};
    return carry_drive(preload, env, "epoll_server", server_mode, conns, requests, extra);
}

struct shape {
    char mode[16];
    char epoll[8];
};

static struct shape shapes[] = {
    {"ptr", "split"},     {"fd", "split"},    {"oneshot", "split"}, {"exclusive", "split"},
    {"handoff", "split"}, {"ptr", "batch"},   {"fd", "batch"},      {"oneshot", "batch"},
    {"exclusive", "batch"}, {"handoff", "batch"},
};

ParameterizedTestParameters(epoll, every_reply_in_its_connections_context)
{
    return cr_make_param_array(struct shape, shapes, sizeof shapes / sizeof shapes[0]);
}

ParameterizedTest(struct shape *shape, epoll, every_reply_in_its_connections_context,
                  .timeout = 240)
{
    char *line = drive(true, shape->epoll, shape->mode, "200", 100000, NULL);
    carry_assert_clean_run(line, 100000, 200, shape->mode);
    free(line);
}

ParameterizedTestParameters(epoll, fd_numbers_reused_under_churn)
{
    static struct shape churn[] = {{"ptr", "split"}, {"fd", "batch"}, {"oneshot", "split"},
                                   {"handoff", "split"}};
    return cr_make_param_array(struct shape, churn, sizeof churn / sizeof churn[0]);
}

ParameterizedTest(struct shape *shape, epoll, fd_numbers_reused_under_churn, .timeout = 240)
{
    /* 5 requests a connection: about 4,000 connections through ~100 fds,
     * each of which must get a fresh context and never an old one's. */
    char *line = drive(true, shape->epoll, shape->mode, "100", 100000, "--churn");
    cr_assert_not_null(strstr(line, "mismatches=0 zero=0 shared_ids=0"), "%s", line);
    free(line);
}

/* Rule R's limit: requests read together are one request, in each
 * dispatch mode. */
Test(epoll, pipelined_bursts_share_a_request_context)
{
    carry_assert_pipelined_bursts("epoll_server", "ptr");
    carry_assert_pipelined_bursts("epoll_server", "oneshot");
}

ParameterizedTestParameters(epoll, without_carry_the_servers_behave_the_same)
{
    static struct shape plain[] = {{"ptr", "split"}, {"fd", "split"}, {"oneshot", "split"},
                                   {"exclusive", "split"}, {"handoff", "split"}};
    return cr_make_param_array(struct shape, plain, sizeof plain / sizeof plain[0]);
}

ParameterizedTest(struct shape *shape, epoll, without_carry_the_servers_behave_the_same,
                  .timeout = 120)
{
    char *line = drive(false, "split", shape->mode, "50", 5000, "--no-carry");
    carry_assert_clean_run(line, 5000, 50, shape->mode);
    free(line);
}

/* closer: both connections are reported by one epoll_wait; handling the
 * first closes the second.  Natively the second event still comes (the
 * classic stale event); in split mode carry drops it. */
static char *closer(bool preload)
{
    const char *env[] = {"CARRY_EPOLL=split", NULL};
    const char *argv[] = {carry_test_fixture("epoll_server"), "closer", NULL};
    struct carry_server s = carry_server_start(preload, env, argv);
    int a = carry_dial(s.port), b = carry_dial(s.port);
    char *ready = carry_server_line(&s);
    cr_assert_str_eq(ready, "ready");
    free(ready);
    cr_assert(write(a, "a\n", 2) == 2 && write(b, "b\n", 2) == 2);
    /* Loopback delivers synchronously: both are readable now. */
    cr_assert(write(s.in, "go\n", 3) == 3);
    size_t len = 0;
    char *out = calloc(1, 1), *line;
    while ((line = carry_server_line(&s)) != NULL && strcmp(line, "done") != 0) {
        out = realloc(out, len + strlen(line) + 2);
        len += (size_t)sprintf(out + len, "%s\n", line);
        free(line);
    }
    cr_assert_not_null(line, "the server ended without \"done\":\n%s", out);
    free(line);
    free(carry_server_stop(&s));
    close(a);
    close(b);
    return out;
}

Test(epoll, closed_fds_events_are_dropped_in_split_mode)
{
    char *native = closer(false);
    cr_assert_not_null(strstr(native, "STALE"), "the scenario must produce a stale event "
                                                "natively:\n%s", native);
    char *carried = closer(true);
    cr_assert_null(strstr(carried, "STALE"), "%s", carried);
    free(native);
    free(carried);
}

/* The probes check rules C and E on a connection's own context (what its
 * fd owns through dups, forks and batches), which CARRY_SCOPE=connection
 * keeps for the connection's whole life; rule R's requests are checked by
 * the fixtures' replies (every_reply_in_its_connections_context). */
static struct carry_run_result probe(bool preload, const char *epoll_mode, const char *cmd)
{
    char mode_env[32];
    snprintf(mode_env, sizeof mode_env, "CARRY_EPOLL=%s", epoll_mode);
    const char *env[] = {mode_env, "CARRY_SCOPE=connection", NULL};
    const char *argv[] = {carry_test_probe(), cmd, NULL};
    struct carry_run_result r = carry_run_program(preload, env, argv);
    cr_assert_eq(r.status, 0, "probe %s: %s%s", cmd, r.out, r.err);
    return r;
}

/* Runs probe CMD under carry in the epoll mode given ("both": batch, then
 * split) and asserts that it printed each line of want (NULL-terminated,
 * without their line endings). */
static void probe_prints(const char *mode, const char *cmd, const char *const *want)
{
    const char *modes[] = {"batch", "split"};
    bool both = strcmp(mode, "both") == 0;
    for (int m = 0; m < (both ? 2 : 1); m++) {
        const char *run_mode = both ? modes[m] : mode;
        struct carry_run_result r = probe(true, run_mode, cmd);
        for (const char *const *w = want; *w != NULL; w++) {
            char line[256];
            snprintf(line, sizeof line, "%s\n", *w);
            cr_assert_not_null(strstr(r.out, line), "%s (%s): no \"%s\" in:\n%s", cmd, run_mode,
                               *w, r.out);
        }
        carry_run_free(&r);
    }
}

/*
 * CARRY_EPOLL=batch: one epoll_wait returns the requests of 3 connections;
 * the server reads them all, then writes every reply.  Each read and each
 * write runs in its own connection's context (not only the first I/O of
 * each event), a write to a connection that is not in the batch (a
 * broadcast) leaves the context as it is, and a later read on the batch's
 * first connection switches back to it.
 */
Test(epoll, batch_mode_runs_every_io_of_the_batch_in_its_connection)
{
    struct carry_run_result r = probe(true, "batch", "batchio");
    cr_assert_not_null(strstr(r.out, "batch n=3\n"), "%s", r.out);
    cr_assert_eq(carry_count(r.out, " in=own\n"), 3 + 3 + 1, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "broadcast stays=1\n"), "%s", r.out);
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "conn %d", i);
        ids[i] = carry_line_id(r.out, name);
        for (int j = 0; j < i; j++)
            cr_assert(ids[i] != 0 && ids[i] != ids[j], "%s", r.out);
    }
    carry_run_free(&r);
}

/*
 * CARRY_EPOLL=batch: a write to an upstream fd that another request
 * borrowed, when the fd's reply is in the same batch, leaves the writer in
 * its own request's context (and lends it the fd): it never takes the
 * writer into the borrower's.
 */
Test(epoll, batch_mode_writes_to_a_borrowed_fd_stay_in_the_writer)
{
    const char *want[] = {"batch n=2", "after write(U) in=A", NULL};
    probe_prints("batch", "batchborrow", want);
}

/* A dup2 or dup3 that fails (EBADF) changes nothing: the connection it
 * did not replace keeps its context and its registration, whose event
 * still comes, with the program's data. */
Test(epoll, a_failed_dup2_leaves_its_target_alone)
{
    for (int mode = 0; mode < 2; mode++) {
        struct carry_run_result r = probe(true, mode ? "split" : "batch", "dupfail");
        cr_assert_not_null(strstr(r.out, "dup2 rc=-1 errno=9\n"), "%s", r.out);
        cr_assert_not_null(strstr(r.out, "dup3 rc=-1 errno=9\n"), "%s", r.out);
        cr_assert_eq(carry_count(r.out, "wait n=1 data=42 mine=1\n"), 2, "%s", r.out);
        carry_run_free(&r);
    }
}

/* CARRY_EPOLL=split: the event a thread kept and handed back at its end
 * reaches the next wait on the epoll fd, also the one of a thread whose
 * last wait was on it (the kernel reports a one-shot fd only once). */
Test(epoll, events_handed_back_reach_the_next_waiter_in_split_mode)
{
    const char *want[] = {"first data=3", "thread n=1 data=1", "again n=1 data=2", NULL};
    probe_prints("split", "handback", want);
}

/* An epoll fd made with the number of one closed since the thread's last
 * wait is waited on with its own state. */
Test(epoll, a_new_epoll_fd_with_a_closed_ones_number_has_its_own_state)
{
    const char *want[] = {"same number=1", "wait n=1 data=9 mine=1", NULL};
    probe_prints("both", "reopen", want);
}

/* CARRY_EPOLL=batch: after a handler's nested loop gives it its context
 * back, the rest of the outer batch still switches to each connection. */
Test(epoll, after_a_nested_loop_the_outer_batch_goes_on)
{
    const char *want[] = {"batch n=2", "S after nested in=S", "X read in=X", "X reply in=X",
                          NULL};
    probe_prints("batch", "nestbatch", want);
}

/* A handler's nested wait on its own loop's epoll fd gives it its context
 * back; the outer loop's next wait lets go of it (rule D). */
Test(epoll, after_a_nested_wait_the_outer_loop_ends_the_handler)
{
    const char *want[] = {"S after nested in=S", "X in=X", "after in=none", NULL};
    probe_prints("both", "nestone", want);
}

/* The events of what one pattern of batchstale left live, in the order
 * the native run returned them: the native list without the stale ones. */
static void expect_live(const char *native_line, unsigned pattern, char *want, size_t size)
{
    const char *p = strstr(native_line, "data=");
    cr_assert_not_null(p, "%s", native_line);
    p += 5;
    want[0] = '\0';
    while (*p >= '0' && *p <= '9') {
        unsigned long long data = strtoull(p, (char **)&p, 10);
        cr_assert(data >= 100 && data < 106, "%s", native_line);
        if (!(pattern & (1u << (data - 100))))
            snprintf(want + strlen(want), size - strlen(want), "%s%llu", want[0] ? "," : "", data);
        if (*p == ',')
            p++;
    }
}

/* Stale events anywhere in a batch (fds closed while a dup keeps the
 * kernel's registration): natively every event comes back, the stale
 * ones with their old data; carry drops exactly those, in both modes,
 * and hands out the others in the kernel's order with their own data. */
Test(epoll, stale_events_anywhere_in_a_batch_are_dropped_alone)
{
    struct carry_run_result native = probe(false, "batch", "batchstale");
    static const char *const modes[] = {"batch", "split"};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        struct carry_run_result r = probe(true, modes[m], "batchstale");
        int patterns = 0;
        for (const char *line = native.out; (line = strstr(line, "pattern ")) != NULL; line++) {
            unsigned pattern;
            cr_assert_eq(sscanf(line, "pattern %x n=6", &pattern), 1, "%s", native.out);
            cr_assert_not_null(strstr(line, " n=6 "), "natively every event comes: %s",
                               native.out);
            char want[128], expected[160];
            expect_live(line, pattern, want, sizeof want);
            snprintf(expected, sizeof expected, "pattern %#x n=%d data=%s\n", pattern,
                     6 - __builtin_popcount(pattern), want);
            cr_assert_not_null(strstr(r.out, expected), "%s mode, want %s in:\n%s", modes[m],
                               expected, r.out);
            patterns++;
        }
        cr_assert_eq(patterns, 8, "%s", native.out);
        carry_run_free(&r);
    }
    carry_run_free(&native);
}

/* close_range ends the registrations of the fds it closes even in a map
 * page where no fd owns a context: an event of a closed pipe, still queued
 * in split mode, never comes out after the close. */
Test(epoll, close_range_drops_the_queued_events_of_what_it_closes)
{
    const char *want[] = {"first n=1 data=1", "closed fd=2048", "after n=0 data=0", NULL};
    probe_prints("split", "closerange", want);
}

Test(epoll, accepted_fds_own_their_context_through_dups)
{
    struct carry_run_result r = probe(true, "split", "dup");
    uint64_t conn = carry_line_id(r.out, "accepted");
    cr_assert_neq(conn, 0);
    cr_assert_not_null(strstr(r.out, "peer=127.0.0.1:"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "local=set"), "%s", r.out);
    const char *dups[] = {"dup", "f_dupfd", "dup2"};
    for (int i = 0; i < 3; i++) {
        char *line = carry_line(r.out, dups[i]);
        cr_assert_not_null(strstr(line, "n=1 data=ok"), "%s", line);
        cr_assert_eq(carry_line_id(r.out, dups[i]), conn, "%s", line);
        free(line);
    }
    uint64_t again = carry_line_id(r.out, "reaccepted");
    cr_assert(again != 0 && again != conn);
    cr_assert_not_null(strstr(r.out, "reaccepted fd-reused=1"), "%s", r.out);
    carry_run_free(&r);
}

Test(epoll, a_connection_closed_by_raw_syscall_leaves_no_context_behind)
{
    /* libuv closes with syscall(SYS_close); the pipe that reuses the
     * number must run in its own registration's context. */
    struct carry_run_result r = probe(true, "split", "syscallclose");
    uint64_t conn = carry_line_id(r.out, "accepted");
    uint64_t pipe_ctx = carry_line_id(r.out, "pipe");
    char *accepted = carry_field(carry_line(r.out, "accepted"), "fd");
    char *piped = carry_field(carry_line(r.out, "pipe"), "fd");
    cr_assert_str_eq(accepted, piped, "the pipe reuses the connection's number:\n%s", r.out);
    cr_assert(conn != 0 && pipe_ctx != 0 && conn != pipe_ctx);
    char *line = carry_line(r.out, "pipe-event");
    cr_assert_not_null(strstr(line, "n=1 data=ok"), "%s", line);
    cr_assert_eq(carry_line_id(r.out, "pipe-event"), pipe_ctx, "%s", r.out);
    free(line);
    free(accepted);
    free(piped);
    carry_run_free(&r);
}

Test(epoll, a_registration_revived_by_mod_delivers_its_events)
{
    const char *argv[] = {carry_test_probe(), "dupmod", NULL};
    struct carry_run_result native = carry_run_program(false, NULL, argv);
    cr_assert_not_null(strstr(native.out, "wait n=1 events=0x4 data=2000\n"), "%s", native.out);
    const char *modes[] = {"CARRY_EPOLL=batch", "CARRY_EPOLL=split"};
    for (int i = 0; i < 2; i++) {
        const char *env[] = {modes[i], NULL};
        struct carry_run_result r = carry_run_program(true, env, argv);
        cr_assert_str_eq(r.out, native.out, "%s", modes[i]);
        carry_run_free(&r);
    }
    carry_run_free(&native);
}

Test(epoll, a_vfork_child_closing_a_connection_leaves_the_parents_alone)
{
    struct carry_run_result r = probe(true, "split", "vfork");
    uint64_t conn = carry_line_id(r.out, "accepted");
    cr_assert_neq(conn, 0);
    char *line = carry_line(r.out, "after-vfork");
    cr_assert_not_null(strstr(line, "n=1 data=ok"), "%s", line);
    cr_assert_eq(carry_line_id(r.out, "after-vfork"), conn, "%s", r.out);
    free(line);
    carry_run_free(&r);
}

Test(epoll, outbound_fds_reply_in_the_last_writers_context)
{
    const char *modes[] = {"split", "batch"};
    for (int m = 0; m < 2; m++) {
        struct carry_run_result r = probe(true, modes[m], "upstream");
        for (int i = 0; i < 3; i++) {
            char request[16], reply[16];
            snprintf(request, sizeof request, "request%d", i);
            snprintf(reply, sizeof reply, "reply%d", i);
            uint64_t id = carry_line_id(r.out, request);
            cr_assert_neq(id, 0);
            /* In batch mode too: the probe reads the fd before it reports. */
            cr_assert_eq(carry_line_id(r.out, reply), id, "CARRY_EPOLL=%s\n%s", modes[m], r.out);
            char *line = carry_line(r.out, reply);
            cr_assert_not_null(strstr(line, "n=1 data=ok"), "%s", line);
            free(line);
        }
        carry_run_free(&r);
    }
}

Test(epoll, bad_input_gets_the_native_results)
{
    struct carry_run_result native = probe(false, "split", "epollerrors");
    const char *modes[] = {"split", "batch"};
    for (int m = 0; m < 2; m++) {
        struct carry_run_result r = probe(true, modes[m], "epollerrors");
        cr_assert_str_eq(r.out, native.out, "CARRY_EPOLL=%s", modes[m]);
        carry_run_free(&r);
    }
    cr_assert_not_null(strstr(native.out, "wait-ready rc=1"), "%s", native.out);
    carry_run_free(&native);
}

/* "peer" and "local" are formatted as libc's inet_ntop and snprintf would,
 * for every address family, on the first accept and on the listener's
 * cached second one. */
Test(epoll, accepted_context_names_its_addresses)
{
    struct carry_run_result r = probe(true, "split", "addresses");
    int checked = 0;
    for (char *line = r.out; line != NULL && *line != '\0'; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (*line == '\0' || strstr(line, " unavailable ") != NULL)
            continue;
        char name[32], peer[256], local[256], libc_peer[256], libc_local[256];
        cr_assert_eq(sscanf(line, "%31s peer=%255s local=%255s libc-peer=%255s libc-local=%255s",
                            name, peer, local, libc_peer, libc_local),
                     5, "%s", r.out);
        cr_expect_str_eq(peer, libc_peer, "%s", line);
        cr_expect_str_eq(local, libc_local, "%s", line);
        checked++;
    }
    /* tcp4, tcp4 on a wildcard, a unix path and an abstract name at least
     * (tcp6 needs ::1), each accepted twice. */
    cr_assert_geq(checked, 8, "%s", r.out);
    carry_run_free(&r);
}

/* The id of a line tagged "[carry <id>] text" or, in a request (rule R),
 * "[carry <id> <conn>] text", or "" when it is untagged; fails the test
 * unless the text is want. */
static void tagged(const char *line, const char *want, char id[17])
{
    cr_assert_not_null(line);
    const char *text = line;
    id[0] = '\0';
    if (strncmp(line, "[carry ", 7) == 0 && strlen(line) > 25) {
        size_t end = line[23] == ' ' && strlen(line) > 42 ? 40 : 23;
        if (line[end] == ']' && line[end + 1] == ' ') {
            memcpy(id, line + 7, 16);
            id[16] = '\0';
            text = line + end + 2;
        }
    }
    cr_assert_str_eq(text, want, "%s", line);
}

/* Reads the reply want from fd. */
static void reply_is(int fd, const char *want)
{
    char buf[32];
    size_t got = 0, len = strlen(want);
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    buf[got] = '\0';
    cr_assert_str_eq(buf, want);
}

Test(epoll, a_loop_nested_in_a_handler_gives_it_its_context_back, .timeout = 60)
{
    const char *modes[] = {"CARRY_EPOLL=batch", "CARRY_EPOLL=split"};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        const char *env[] = {"CARRY_TAG=stdout", modes[m], NULL};
        const char *argv[] = {carry_test_fixture("epoll_nested"), NULL};
        struct carry_server s = carry_server_start(true, env, argv);
        int a = carry_dial(s.port), b = carry_dial(s.port);
        cr_assert(write(a, "slow\n", 5) == 5);
        char started[17], received[17], killed[17];
        char *line = carry_server_line(&s);
        tagged(line, "slow started", started);
        free(line);
        /* The slow handler is processing events while blocked now. */
        cr_assert(write(b, "kill\n", 5) == 5);
        reply_is(b, "ok\n");
        reply_is(a, "killed\n");
        line = carry_server_line(&s);
        tagged(line, "kill received", received);
        free(line);
        line = carry_server_line(&s);
        tagged(line, "slow killed by user", killed);
        free(line);
        cr_assert_str_neq(started, "", "%s", modes[m]);
        cr_assert_str_neq(received, "", "%s", modes[m]);
        cr_assert_str_neq(received, started, "%s", modes[m]);
        cr_assert_str_eq(killed, started, "%s: the handler's own context after the nested loop",
                         modes[m]);
        close(a);
        close(b);
        free(carry_server_stop(&s));
    }
}
