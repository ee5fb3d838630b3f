/*
 * Rule L on libev 4: libev_server answers every request from a one-shot
 * ev_timer started in the read callback; under libcarry every reply runs
 * in its connection's context, and without rule L it does not.
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
