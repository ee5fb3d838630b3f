/* Pools of fixed-size objects: reuse, the per-thread lists, exclusive
 * ownership under contention, fork, and running out of memory. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"

struct item {
    uint64_t stamp;     /* who holds it, while held */
    struct item *next;  /* the pool's link */
    uint32_t inits;     /* times the init function ran on it */
};

static void item_init(void *obj)
{
    ((struct item *)obj)->inits++;
}

/* Each test has pools of its own: a pool's first use lists it for good. */
#define ITEM_POOL(keep, label) CARRY__POOL_INIT(struct item, next, 16, item_init, keep, label)

Test(pool, an_object_given_back_is_the_next_taken)
{
    static struct carry__pool pool = ITEM_POOL(true, "items");
    struct item *a = carry__pool_take(&pool);
    cr_assert_not_null(a);
    cr_assert_eq(a->inits, 1, "init runs once, on the new slab");
    a->stamp = 42;
    carry__pool_give(&pool, a);
    struct item *b = carry__pool_take(&pool);
    cr_assert_eq(b, a, "the thread's own list hands it back first");
    cr_assert_eq(b->stamp, 42, "the pool writes only the link");
    cr_assert_eq(b->inits, 1, "init never runs again");
    carry__pool_give(&pool, b);
}

Test(pool, slabs_hold_distinct_objects)
{
    static struct carry__pool pool = ITEM_POOL(false, "items");
    struct item *held[100];
    for (int i = 0; i < 100; i++) {
        held[i] = carry__pool_take(&pool);
        cr_assert_not_null(held[i]);
        for (int j = 0; j < i; j++)
            cr_assert_neq(held[i], held[j], "object %d taken twice", i);
    }
    for (int i = 0; i < 100; i++)
        carry__pool_give(&pool, held[i]);
}

static struct carry__pool exit_pool = ITEM_POOL(true, "items");

static void *take_and_keep(void *out)
{
    struct item **held = out;
    for (int i = 0; i < 8; i++)
        held[i] = carry__pool_take(&exit_pool);
    for (int i = 0; i < 8; i++)
        carry__pool_give(&exit_pool, held[i]);
    return NULL;
}

static bool is_one_of(struct item *it, struct item **set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == it)
            return true;
    return false;
}

/* What a thread keeps goes back to the shared list when it ends: another
 * thread, whose own list is empty, gets those objects next. */
Test(pool, a_thread_hands_back_what_it_kept_when_it_ends)
{
    struct item *kept[8];
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, take_and_keep, kept), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    struct item *again[8];
    int found = 0;
    for (int i = 0; i < 8; i++) {
        again[i] = carry__pool_take(&exit_pool);
        found += is_one_of(again[i], kept, 8);
    }
    cr_assert_eq(found, 8, "the ended thread's objects are reused, not lost");
    for (int i = 0; i < 8; i++)
        carry__pool_give(&exit_pool, again[i]);
}

/* Threads take, stamp, check and give back; an object held by two at once
 * shows as a stamp overwritten under its holder. */
static struct carry__pool busy_pool = ITEM_POOL(true, "items");

static void *churn(void *arg)
{
    uint64_t me = (uint64_t)(uintptr_t)arg;
    struct item *held[40];
    for (int round = 0; round < 2000; round++) {
        int n = 1 + round % 40;
        for (int i = 0; i < n; i++) {
            held[i] = carry__pool_take(&busy_pool);
            if (held[i] == NULL)
                return (void *)1;
            held[i]->stamp = me;
        }
        for (int i = 0; i < n; i++) {
            if (held[i]->stamp != me)
                return (void *)2;
            carry__pool_give(&busy_pool, held[i]);
        }
    }
    return NULL;
}

Test(pool, an_object_has_one_holder_at_a_time)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++) {
        void *rc;
        cr_assert_eq(pthread_join(t[i], &rc), 0);
        cr_assert_null(rc, "thread %d: %s", i, rc == (void *)1 ? "no object" : "shared object");
    }
}

/* The lock is held across fork by the atfork handlers that init.c
 * registers; here they are called by hand around a fork while another
 * thread churns, and the child must still take and give. */
static struct carry__pool fork_pool = ITEM_POOL(true, "items");
static _Atomic bool stop;

static void *fork_churn(void *unused)
{
    (void)unused;
    while (!atomic_load(&stop)) {
        struct item *it = carry__pool_take(&fork_pool);
        carry__pool_give(&fork_pool, it);
    }
    return NULL;
}

Test(pool, a_forked_child_takes_and_gives)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fork_churn, NULL), 0);
    for (int i = 0; i < 20; i++) {
        carry__pools_atfork_prepare();
        pid_t pid = fork();
        carry__pools_atfork_release();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            struct item *held[64];
            for (int k = 0; k < 64; k++)
                if ((held[k] = carry__pool_take(&fork_pool)) == NULL)
                    _exit(1);
            for (int k = 0; k < 64; k++)
                carry__pool_give(&fork_pool, held[k]);
            _exit(0);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed", i);
    }
    atomic_store(&stop, true);
    cr_assert_eq(pthread_join(t, NULL), 0);
}

static char warned[1024];

static void sink(const char *line, size_t len)
{
    strncat(warned, line, len < sizeof warned - strlen(warned) - 1 ? len : 0);
}

struct huge {
    char bytes[UINT64_C(1) << 40];
    void *next;
};

/* Out of memory: NULL, errno untouched, one warning however often.  (The
 * sanitizers' allocators are told to return NULL too: meson.build.) */
Test(pool, out_of_memory_is_null_and_said_once)
{
    static struct carry__pool pool = CARRY__POOL_INIT(struct huge, next, 1024, NULL, true, "huge things");
    carry__set_warn_sink(sink);
    errno = 1234;
    cr_assert_null(carry__pool_take(&pool));
    cr_assert_eq(errno, 1234);
    cr_assert_null(carry__pool_take(&pool));
    carry__set_warn_sink(NULL);
    cr_assert_str_eq(warned,
                     "carry: out of memory for huge things: carrying on without contexts where "
                     "they are needed\n");
}
