/*
 * Rule L on libevent 2.1: levent_server (raw events with event_base_once
 * replies, bufferevents, deferred bufferevent callbacks, memcached's
 * dispatcher/worker hand-off) under libcarry, driven by epoll_client: every reply runs in its connection's
 * context, timers in the context that scheduled them, and libevent hands
 * the application its own callbacks back.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

struct shape {
    char mode[16];
    char epoll[8];
};

static struct shape shapes[] = {{"raw", "batch"},   {"bufferevent", "batch"},
                                {"deferred", "batch"}, {"handoff", "batch"},
                                {"raw", "split"},   {"handoff", "split"}};

ParameterizedTestParameters(levent, every_reply_in_its_connections_context)
{
    return cr_make_param_array(struct shape, shapes, sizeof shapes / sizeof shapes[0]);
}

ParameterizedTest(struct shape *shape, levent, every_reply_in_its_connections_context,
                  .timeout = 240)
{
    char epoll_env[32];
    snprintf(epoll_env, sizeof epoll_env, "CARRY_EPOLL=%s", shape->epoll);
    const char *env[] = {epoll_env, NULL};
    char *line = carry_drive(true, env, "levent_server", shape->mode, "200", 100000, NULL);
    carry_assert_clean_run(line, 100000, 200, shape->mode);
    free(line);
}

/* Rule R's limit: requests read together are one request. */
Test(levent, pipelined_bursts_share_a_request_context)
{
    carry_assert_pipelined_bursts("levent_server", "raw");
}

Test(levent, connections_churn, .timeout = 240)
{
    carry_assert_clean_churn("levent_server", "raw");
}

Test(levent, without_loops_the_timers_lose_their_context, .timeout = 120)
{
    carry_assert_loops_matter("levent_server", "handoff");
}

Test(levent, without_carry_the_servers_behave_the_same, .timeout = 120)
{
    const char *modes[] = {"raw", "bufferevent", "deferred", "handoff"};
    for (int i = 0; i < 4; i++)
        carry_assert_same_without_carry("levent_server", modes[i]);
}
