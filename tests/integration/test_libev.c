/*
 * Rule L on libev 4: libev_server answers every request from a one-shot
 * ev_timer started in the read callback; under libcarry every reply runs
 * in its connection's context, and without rule L it does not.  ev_pool
 * reuses its watchers across connections, as sniproxy does: a stopped
 * watcher keeps no connection's context alive.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

Test(libev, every_reply_in_its_connections_context, .timeout = 240)
{
    carry_assert_clean_in_each_epoll_mode("libev_server", "-");
}

/* Rule R's limit: requests read together are one request. */
Test(libev, pipelined_bursts_share_a_request_context)
{
    carry_assert_pipelined_bursts("libev_server", "-");
}

Test(libev, connections_churn, .timeout = 240)
{
    carry_assert_clean_churn("libev_server", "-");
}

Test(libev, without_loops_the_timers_lose_their_context, .timeout = 120)
{
    carry_assert_loops_matter("libev_server", "-");
}

Test(libev, without_carry_the_server_behaves_the_same, .timeout = 120)
{
    carry_assert_same_without_carry("libev_server", "-");
}

Test(libev, stopped_watchers_keep_no_context_alive, .timeout = 240)
{
    /* 3,000 connections, 50 at a time, each through a pooled slot of
     * watchers that are stopped, never freed, when it closes. */
    char total[16];
    snprintf(total, sizeof total, "%d", 3000 / carry_test_scale());
    const char *env[] = {"CARRY_STATS=stderr", NULL};
    const char *argv[] = {carry_test_fixture("ev_pool"), total, "50", NULL};
    struct carry_run_result r = carry_run_program(true, env, argv);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char want[64];
    snprintf(want, sizeof want, "served=%s mismatched=0\n", total);
    cr_assert_str_eq(r.out, want, "%s", r.err);
    /* Every connection is closed: no context is alive at exit. */
    cr_assert_not_null(strstr(r.err, " alive at peak, 0 alive at exit\n"), "%s", r.err);
    carry_run_free(&r);
}
