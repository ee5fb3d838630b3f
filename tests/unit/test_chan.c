/* Hand-off channels (chan.c) entered from a signal handler that
 * interrupted carry's own code: what the handler writes or reads passes
 * untouched, so that it neither waits for a lock the interrupted code
 * holds nor switches the context under it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include "chan.h"
#include "current.h"
#include "fd.h"
#include "leaks.h"
#include "lock.h"

static uint64_t live_before;
static int fds[2] = {-1, -1};

static void setup(void)
{
    live_before = carry__ctx_live();
    cr_assert_eq(pipe(fds), 0);
    cr_assert(carry__chan_made(CARRY__CHAN_PIPE, fds));
}

static void teardown(void)
{
    carry__chan_closed(fds[0]);
    carry__chan_closed(fds[1]);
    close(fds[0]);
    close(fds[1]);
    carry__current_adopt(NULL);
    carry_test_no_leaks(live_before);
}

TestSuite(chan, .init = setup, .fini = teardown);

/* One byte through the pipe, written in writer's context and read with
 * reader's current, while this thread holds one of carry's locks or not;
 * returns the context current after the read. */
static carry_ctx *hand_off(carry_ctx *writer, carry_ctx *reader, bool in_carry, uint64_t *record)
{
    carry__spin held = 0;
    carry__current_adopt(writer);
    if (writer != NULL)
        carry__ctx_ref_local(writer);
    if (in_carry)
        carry__spin_lock(&held);
    *record = carry__chan_write(fds[1], "x", 1);
    cr_assert_eq(write(fds[1], "x", 1), 1);
    carry__current_adopt(reader);
    if (reader != NULL)
        carry__ctx_ref_local(reader);
    char c;
    ssize_t rc = read(fds[0], &c, 1);
    cr_assert_eq(rc, 1);
    struct carry__fd *e = carry__fd_peek(fds[0]);
    cr_assert_not_null(e);
    carry__chan_read(e, rc, &c, 1);
    if (in_carry)
        carry__spin_unlock(&held);
    return carry__current();
}

Test(chan, a_hand_off_outside_carrys_code_switches_to_the_writer)
{
    carry_ctx *writer = carry__ctx_new_local(), *reader = carry__ctx_new_local();
    uint64_t record;
    cr_assert_eq(carry__locks_held, 0);
    cr_assert_eq(hand_off(writer, reader, false, &record), writer);
    cr_assert_neq(record, 0, "the write was recorded");
    cr_assert_eq(carry__locks_held, 0);
    carry__current_adopt(NULL);
    carry__ctx_unref_local(writer);
    carry__ctx_unref_local(reader);
}

/* The same, as a handler that interrupted carry inside a lock would: no
 * record, no switch, and the lock count comes back to 0. */
Test(chan, a_hand_off_inside_carrys_locks_passes_untouched)
{
    carry_ctx *writer = carry__ctx_new_local(), *reader = carry__ctx_new_local();
    uint64_t record;
    cr_assert_eq(hand_off(writer, reader, true, &record), reader);
    cr_assert_eq(record, 0, "nothing recorded");
    cr_assert_eq(carry__locks_held, 0);
    /* The channel works as before once carry's code is left. */
    cr_assert_eq(hand_off(writer, reader, false, &record), writer);
    cr_assert_neq(record, 0);
    carry__current_adopt(NULL);
    carry__ctx_unref_local(writer);
    carry__ctx_unref_local(reader);
}
