/* Context ids: non-zero, unique across threads, tagged with the pid. */
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

Test(ids, carry_the_pid)
{
    cr_assert_eq(carry__id_next() >> 40, (uint64_t)getpid() & 0xffffff);
}
