/* Context ids: non-zero, unique across threads, not guessable from one another. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "context.h"

#define PER_THREAD 20000
#define THREADS 4

static void *take_ids(void *p)
{
    uint64_t *ids = p;
    for (int i = 0; i < PER_THREAD; i++)
        ids[i] = carry__id_next();
    return NULL;
}

static int compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(ids, unique_and_non_zero_across_threads)
{
    uint64_t *ids = calloc(PER_THREAD * THREADS, sizeof *ids);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, take_ids, ids + i * PER_THREAD), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    qsort(ids, PER_THREAD * THREADS, sizeof *ids, compare);
    cr_assert_neq(ids[0], 0);
    for (int i = 1; i < PER_THREAD * THREADS; i++)
        cr_assert_neq(ids[i], ids[i - 1], "duplicate id %016lx", (unsigned long)ids[i]);
    free(ids);
}

/* Consecutive ids look unrelated (they are span-ids on the wire, rule W):
 * each bit flips between neighbours about half the time, and no id is its
 * neighbour plus a small number. */
Test(ids, do_not_follow_one_another)
{
    enum { N = 4096 };
    uint64_t prev = carry__id_next(), flips[64] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t id = carry__id_next();
        uint64_t distance = id > prev ? id - prev : prev - id;
        cr_assert_gt(distance, UINT64_C(1) << 20, "%016lx follows %016lx", (unsigned long)id,
                     (unsigned long)prev);
        for (int b = 0; b < 64; b++)
            flips[b] += ((id ^ prev) >> b) & 1;
        prev = id;
    }
    for (int b = 0; b < 64; b++)
        cr_assert(flips[b] > N * 2 / 5 && flips[b] < N * 3 / 5, "bit %d flipped %lu times in %d", b,
                  (unsigned long)flips[b], N);
}
