/* fd maps: the paged look-up (get), the one-load look-up of hot paths
 * (peek), which must agree with it wherever an entry was made and read as
 * an all-zero entry where none was, and the reservation under threads. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "fdmap.h"

struct entry {
    uint64_t a;
    uint32_t b;
    uint8_t c;
};

#define MAP_INIT {.entry_size = sizeof(struct entry)}

static struct entry *peek(struct carry__fdmap *map, int fd)
{
    return carry__fdmap_peek(map, fd, sizeof(struct entry));
}

static bool all_zero(const struct entry *e)
{
    static const struct entry zero;
    return memcmp(e, &zero, sizeof zero) == 0;
}

Test(fdmap, a_map_never_used_has_no_entries)
{
    static struct carry__fdmap map = MAP_INIT;
    cr_assert_null(carry__fdmap_get(&map, 3));
    cr_assert_null(peek(&map, 3), "no range is read before the map is reserved");
}

Test(fdmap, peek_finds_the_entry_get_finds)
{
    static struct carry__fdmap map = MAP_INIT;
    struct entry *made = carry__fdmap_ensure(&map, 5);
    cr_assert_not_null(made);
    cr_assert(all_zero(made), "a new entry is zeroed");
    made->a = 42;
    made->c = 7;
    cr_assert_eq(peek(&map, 5), made);
    cr_assert_eq(carry__fdmap_get(&map, 5), made);
    cr_assert_eq(peek(&map, 5)->a, 42);
    cr_assert_eq(peek(&map, 5)->c, 7);
    cr_assert_eq(carry__fdmap_ensure(&map, 5), made, "an entry keeps its address");
}

Test(fdmap, an_fd_never_made_peeks_as_a_zero_entry)
{
    static struct carry__fdmap map = MAP_INIT;
    cr_assert_not_null(carry__fdmap_ensure(&map, 1));
    /* On a page never used: get has no entry, peek a zero one. */
    int far = 3 * CARRY__FDMAP_PAGE + 17;
    cr_assert_null(carry__fdmap_get(&map, far));
    struct entry *e = peek(&map, far);
    cr_assert_not_null(e);
    cr_assert(all_zero(e));
    /* Made later, it is the entry peek read. */
    struct entry *made = carry__fdmap_ensure(&map, far);
    cr_assert_eq(made, e);
    made->b = 9;
    cr_assert_eq(peek(&map, far)->b, 9);
    cr_assert(all_zero(peek(&map, far + 1)), "its neighbour stays zero");
}

Test(fdmap, fds_out_of_range_have_no_entry)
{
    static struct carry__fdmap map = MAP_INIT;
    cr_assert_not_null(carry__fdmap_ensure(&map, 0));
    cr_assert_null(peek(&map, -1));
    cr_assert_null(peek(&map, CARRY__FDMAP_LIMIT));
    cr_assert_null(carry__fdmap_ensure(&map, CARRY__FDMAP_LIMIT));
    cr_assert_not_null(peek(&map, CARRY__FDMAP_LIMIT - 1));
}

#define THREADS 8

static struct carry__fdmap raced = MAP_INIT;
static pthread_barrier_t start;

static void *make_own_entries(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < 64; i++) {
        int fd = (i * THREADS + t) * 37;
        struct entry *e = carry__fdmap_ensure(&raced, fd);
        if (e == NULL || peek(&raced, fd) != e)
            return (void *)1;
        __atomic_store_n(&e->a, (uint64_t)fd + 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

Test(fdmap, threads_reserving_at_once_share_one_range)
{
    pthread_t th[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, make_own_entries, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++) {
        void *failed;
        pthread_join(th[t], &failed);
        cr_assert_null(failed, "thread %d saw peek and ensure disagree", t);
    }
    for (int i = 0; i < 64 * THREADS; i++) {
        int fd = i * 37;
        cr_assert_eq(peek(&raced, fd), carry__fdmap_get(&raced, fd));
        cr_assert_eq(__atomic_load_n(&peek(&raced, fd)->a, __ATOMIC_RELAXED), (uint64_t)fd + 1);
    }
    pthread_barrier_destroy(&start);
}
