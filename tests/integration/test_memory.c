/*
 * Out of memory inside carry is never the program's failure.  The servers
 * run with tests/fixtures/failalloc.so, which fails the allocations made
 * from inside libcarry (all of them, or all after the first N) while the
 * program's own succeed: each server starts, answers every request as the
 * protocol says, and the CARRY_STATS report counts the work carry ran
 * without a context as "lost to memory"; 0 when nothing failed.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "run.h"

/* The report of a run with CARRY_STATS=a temporary file, as text. */
struct report {
    char path[64];
    char var[96];
};

static void report_init(struct report *r)
{
    strcpy(r->path, "/tmp/carry-memory-XXXXXX");
    int fd = mkstemp(r->path);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(r->var, sizeof r->var, "CARRY_STATS=%s", r->path);
}

static char *report_read(struct report *r)
{
    char *text = carry_read_file(r->path);
    unlink(r->path);
    return text;
}

/*
 * Serves 2,000 requests over CONNS connections of SERVER in SERVER_MODE,
 * CARRY_EPOLL=EPOLL, with carry's allocations failing after AFTER successes
 * (mmap too unless keep_mmap), and returns the lost-to-memory count of its report.  With no
 * context anywhere (after 0) the replies must be those of a run without
 * carry; otherwise some connections have contexts and some not, and every
 * request must be answered.
 */
static long serve_failing(const char *server, const char *server_mode, const char *epoll,
                          const char *conns, const char *after, bool keep_mmap)
{
    struct report rep;
    report_init(&rep);
    char after_var[64], epoll_var[32];
    snprintf(after_var, sizeof after_var, "CARRY_TEST_FAILALLOC_AFTER=%s", after);
    snprintf(epoll_var, sizeof epoll_var, "CARRY_EPOLL=%s", epoll);
    const char *env[] = {carry_failalloc_preload(), rep.var, after_var, epoll_var,
                         keep_mmap ? "CARRY_TEST_FAILALLOC_MMAP=0" : "CARRY_TEST_FAILALLOC_MMAP=1",
                         NULL};
    bool none = strcmp(after, "0") == 0;
    char *line = carry_drive(false, env, server, server_mode, conns, 2000,
                             none ? "--no-carry" : "--load");
    char want[64];
    snprintf(want, sizeof want, "requests=%ld ", 2000L / carry_test_scale());
    cr_assert(strncmp(line, want, strlen(want)) == 0, "%s %s after %s: %s", server, server_mode,
              after, line);
    if (none)
        cr_assert_not_null(strstr(line, "mismatches=0 zero=0"), "%s %s: %s", server, server_mode,
                           line);
    free(line);
    char *text = report_read(&rep);
    long lost = carry_lost_to_memory(text);
    free(text);
    return lost;
}

struct failing {
    char server[16];
    char mode[16];
    char after[8];
    bool keep_mmap;
    char epoll[8];
};

ParameterizedTestParameters(memory, servers_serve_every_request_when_carry_cannot_allocate)
{
    static struct failing runs[] = {
        /* Nothing at all: no pool, no fd map. */
        {"epoll_server", "ptr", "0", false, "batch"},
        /* The fd maps reserved, every pool empty: epoll_ctl must pass
         * through on an epoll fd carry cannot track. */
        {"epoll_server", "ptr", "0", true, "batch"},
        {"epoll_server", "oneshot", "0", true, "batch"},
        {"epoll_server", "exclusive", "0", true, "batch"},
        {"epoll_server", "handoff", "0", true, "batch"},
        /* Some epoll fds, contexts and records, then none. */
        {"epoll_server", "exclusive", "2", true, "batch"},
        {"epoll_server", "handoff", "3", true, "batch"},
        /* Split mode: an untracked epoll fd; tracked ones (carry's first
         * 3 allocations are the epoll fd's) whose threads cannot grow
         * their queues of events. */
        {"epoll_server", "ptr", "0", true, "split"},
        {"epoll_server", "oneshot", "3", true, "split"},
        {"epoll_server", "handoff", "3", true, "split"},
        {"levent_server", "bufferevent", "0", true, "batch"},
        {"levent_server", "raw", "0", false, "batch"},
        {"levent_server", "handoff", "3", true, "batch"},
        {"uv_server", "-", "0", true, "batch"},
        {"uv_server", "-", "0", false, "batch"},
        {"uv_server", "-", "3", true, "batch"},
    };
    return cr_make_param_array(struct failing, runs, sizeof runs / sizeof runs[0]);
}

ParameterizedTest(struct failing *f, memory, servers_serve_every_request_when_carry_cannot_allocate,
                  .timeout = 120)
{
    long lost = serve_failing(f->server, f->mode, f->epoll, "50", f->after, f->keep_mmap);
    cr_assert_gt(lost, 0, "%s %s after %s: nothing counted as lost to memory", f->server, f->mode,
                 f->after);
}

Test(memory, nothing_is_lost_when_memory_is_there, .timeout = 120)
{
    const char *servers[][2] = {{"epoll_server", "handoff"}, {"levent_server", "bufferevent"},
                                {"uv_server", "-"}};
    for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++) {
        struct report rep;
        report_init(&rep);
        const char *env[] = {rep.var, NULL};
        char *line = carry_drive(true, env, servers[i][0], servers[i][1], "50", 2000, NULL);
        carry_assert_clean_run(line, 2000, 50, servers[i][0]);
        free(line);
        char *text = report_read(&rep);
        cr_assert_eq(carry_lost_to_memory(text), 0, "%s:\n%s", servers[i][0], text);
        /* And each request got its context (rule R), counted: one at a
         * time on each of 50 connections. */
        long requests = 2000L / carry_test_scale();
        char num[32], want[128];
        if (requests >= 1000)
            snprintf(num, sizeof num, "%ld,%03ld", requests / 1000, requests % 1000);
        else
            snprintf(num, sizeof num, "%ld", requests);
        snprintf(want, sizeof want, "requests: %s begun (each a new context), %.1f per connection",
                 num, (double)requests / 50);
        cr_assert_not_null(strstr(text, want), "%s: no \"%s\" in:\n%s", servers[i][0], want, text);
        free(text);
    }
}

/* Memory runs out just after start-up (carry's first 4 allocations
 * succeed: epoll_server's epoll fd is tracked, and the first slab of
 * contexts is had), and 1,100 connections at once take fds past the first
 * 1,024, whose registrations need the second page of the epoll fd's map: a
 * page of its reserved range, no allocation. */
Test(memory, fds_past_the_first_page_register_without_memory, .timeout = 120)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2400)
        cr_skip_test("needs 2,400 fds for 1,100 connections at both ends (ulimit -n is %llu)",
                     (unsigned long long)rl.rlim_cur);
    long lost = serve_failing("epoll_server", "ptr", "batch", "1100", "4", true);
    cr_assert_gt(lost, 0, "nothing counted as lost to memory");
}
