/* The check every unit suite that makes contexts ends its tests with. */
#ifndef CARRY_TEST_LEAKS_H
#define CARRY_TEST_LEAKS_H

#include <criterion/criterion.h>
#include <stdlib.h>

#include "context.h"

/* Aborts when contexts are alive that were not before the test (live
 * then): Criterion does not count a failed assertion in a fini, a crash
 * it does count. */
static inline void carry_test_no_leaks(uint64_t before)
{
    if (carry__ctx_live() != before) {
        cr_log_error("contexts leaked: %llu alive, %llu before the test",
                     (unsigned long long)carry__ctx_live(), (unsigned long long)before);
        abort();
    }
}

#endif /* CARRY_TEST_LEAKS_H */
