/*
 * carry.h against the real core linked into this executable (exported, so
 * the header's run-time look-up finds it).  Built once as C99 here and once
 * as C++ (test_header_cxx.cc includes this file).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "carry.h"

static void *id_of_current(void *out)
{
    *(uint64_t *)out = carry_id();
    return out;
}

Test(header, finds_libcarry_and_round_trips)
{
    cr_assert_eq(carry_available(), 1);
    cr_assert_eq(carry_id(), 0);
    cr_assert_null(carry_get("user"));
    errno = 0;
    cr_assert_eq(carry_set("user", "x"), -1);
    cr_assert_eq(errno, ESRCH);

    carry_ctx *ctx = carry_begin();
    cr_assert_not_null(ctx);
    cr_assert_neq(carry_id(), 0);
    cr_assert_eq(carry_ctx_id(ctx), carry_id());
    cr_assert_eq(carry_set("user", "alice"), 0);
    cr_assert_str_eq(carry_get("user"), "alice");
    cr_assert_eq(carry_unset("user"), 0);
    cr_assert_null(carry_get("user"));

    carry_ctx *captured = carry_capture();
    cr_assert_eq(captured, ctx);
    cr_assert_eq(carry_enter(NULL), 0);
    cr_assert_eq(carry_id(), 0);
    uint64_t seen = 0;
    cr_assert_eq(carry_run(captured, id_of_current, &seen), &seen);
    cr_assert_eq(seen, carry_ctx_id(ctx));
    cr_assert_eq(carry_id(), 0, "restored");
    carry_release(captured);
    carry_release(ctx);
}
