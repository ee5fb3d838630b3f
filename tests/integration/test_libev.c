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
    const char *modes[] = {"CARRY_EPOLL=batch", "CARRY_EPOLL=split"};
    for (int i = 0; i < 2; i++) {
        const char *env[] = {modes[i], NULL};
        char *line = carry_drive(true, env, "libev_server", "-", "200", 100000, NULL);
        carry_assert_clean_run(line, 100000, 200, modes[i]);
        free(line);
    }
}

Test(libev, connections_churn, .timeout = 240)
{
    char *line = carry_drive(true, NULL, "libev_server", "-", "100", 20000, "--churn");
    cr_assert_not_null(strstr(line, "mismatches=0 zero=0 shared_ids=0"), "%s", line);
    free(line);
}

Test(libev, without_loops_the_timers_lose_their_context, .timeout = 120)
{
    carry_assert_loops_matter("libev_server", "-");
}

Test(libev, without_carry_the_server_behaves_the_same, .timeout = 120)
{
    char *line = carry_drive(false, NULL, "libev_server", "-", "50", 5000, "--no-carry");
    cr_assert_not_null(strstr(line, "mismatches=0"), "%s", line);
    free(line);
}
