/* The store: semantics, retention of replaced values, and concurrency. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "current.h"
#include "leaks.h"
#include "store.h"

static uint64_t live_before;

static void setup(void)
{
    live_before = carry__ctx_live();
}

static void teardown(void)
{
    carry_test_no_leaks(live_before);
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, set_get_unset)
{
    carry_ctx *ctx = carry__ctx_new();
    cr_assert_null(carry__store_get(&ctx->store, "user"));
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "user", "alice"), 0);
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "role", "admin"), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "user"), "alice");
    cr_assert_str_eq(carry__store_get(&ctx->store, "role"), "admin");
    cr_assert_null(carry__store_get(&ctx->store, "use"), "no prefix match");
    cr_assert_null(carry__store_get(&ctx->store, "users"), "no prefix match");
    cr_assert_eq(carry__store_unset(&ctx->store, &ctx->lock, "user"), 0);
    cr_assert_null(carry__store_get(&ctx->store, "user"));
    cr_assert_eq(carry__store_unset(&ctx->store, &ctx->lock, "user"), ENOENT);
    cr_assert_eq(carry__store_unset(&ctx->store, &ctx->lock, "never"), ENOENT);
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "user", "again"), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "user"), "again");
    carry__ctx_unref(ctx);
}

/* A renewed request keeps its store's one small chunk, emptied, for its
 * next life's keys; a store grown past it gives its memory back. */
Test(store, a_small_store_is_recycled_empty)
{
    carry_ctx *ctx = carry__ctx_new();
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "http.method", "GET"), 0);
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "http.target", "/a"), 0);
    cr_assert_null(carry__store_recycle(&ctx->store), "one small chunk is kept");
    cr_assert_null(carry__store_get(&ctx->store, "http.method"), "and emptied");
    cr_assert_null(carry__store_get(&ctx->store, "http.target"));
    cr_assert_eq(carry__store_setn(&ctx->store, &ctx->lock, "http.method", "POST", 4), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "http.method"), "POST");
    const char *keys[4], *values[4];
    cr_assert_eq(carry__store_list(&ctx->store, keys, values, 4), 1);

    static char big[2048];
    memset(big, 'v', sizeof big - 1);
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "big", big), 0);
    struct carry__chunk *arena = carry__store_recycle(&ctx->store);
    cr_assert_not_null(arena, "a store past one small chunk gives its memory back");
    cr_assert_null(carry__store_get(&ctx->store, "big"));
    carry__store_free_arena(arena);
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "user", "alice"), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "user"), "alice");
    carry__ctx_unref(ctx);
}

/* Values given by their length read back exactly (lengths given, not
 * NULs), and behave as any other key. */
Test(store, values_given_by_length_read_back_and_stay_settable)
{
    carry_ctx *ctx = carry__ctx_new();
    const char peer[] = "127.0.0.1:5432/extra";
    cr_assert_eq(carry__store_setn(&ctx->store, &ctx->lock, "peer", peer, 14), 0);
    cr_assert_eq(carry__store_setn(&ctx->store, &ctx->lock, "local", "", 0), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "peer"), "127.0.0.1:5432");
    cr_assert_str_eq(carry__store_get(&ctx->store, "local"), "");
    const char *old = carry__store_get(&ctx->store, "peer");
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "peer", "10.0.0.1:1"), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "peer"), "10.0.0.1:1");
    cr_assert_str_eq(old, "127.0.0.1:5432", "the value replaced stays valid");
    const char *keys[4], *values[4];
    cr_assert_eq(carry__store_list(&ctx->store, keys, values, 4), 2, "no key was added twice");
    carry__ctx_unref(ctx);
}

/* The hidden entry keeps its bytes in a store whose keys go on past its
 * list into an index: no key reads them (not even the key they spell),
 * and lists leave them out. */
Test(store, the_hidden_entry_is_no_key_and_lists_leave_it_out)
{
    carry_ctx *ctx = carry__ctx_new();
    cr_assert_null(carry__store_hidden(&ctx->store), "a store has none until added");
    char *bytes = carry__store_add_hidden(&ctx->store, 5);
    cr_assert_not_null(bytes);
    memcpy(bytes, "peer", 5);
    enum { KEYS = 40 };
    for (int i = 0; i < KEYS; i++) {
        char key[16];
        snprintf(key, sizeof key, "key%d", i);
        cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, key, "v"), 0);
    }
    cr_assert_eq(carry__store_hidden(&ctx->store), bytes);
    cr_assert_str_eq(carry__store_hidden(&ctx->store), "peer");
    cr_assert_null(carry__store_get(&ctx->store, "peer"));
    const char *keys[KEYS + 1], *values[KEYS + 1];
    cr_assert_eq(carry__store_list(&ctx->store, keys, values, KEYS + 1), KEYS);
    for (int i = 0; i < KEYS; i++)
        cr_assert_neq(keys[i][0], '\0', "the hidden entry listed");
    carry__ctx_unref(ctx);
}

/* A derived key is added only when the store holds no entry for it: a
 * value set (or unset) meanwhile stays, and a key added is read back as
 * the value given, of the length given, in a store past its list (an
 * index). */
Test(store, a_missing_key_is_added_once)
{
    carry_ctx *ctx = carry__ctx_new();
    const char *added = carry__store_add_missing(&ctx->store, &ctx->lock, "seq", "42xx", 2);
    cr_assert_str_eq(added, "42");
    cr_assert_eq(carry__store_get(&ctx->store, "seq"), added);
    cr_assert_eq(carry__store_add_missing(&ctx->store, &ctx->lock, "seq", "7", 1), added,
                 "a key held is not added again");
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "conn", "mine"), 0);
    cr_assert_str_eq(carry__store_add_missing(&ctx->store, &ctx->lock, "conn", "derived", 7),
                     "mine", "a value the program set stays");
    cr_assert_eq(carry__store_unset(&ctx->store, &ctx->lock, "conn"), 0);
    cr_assert_null(carry__store_add_missing(&ctx->store, &ctx->lock, "conn", "derived", 7),
                   "a key the program unset stays unset");
    char key[16];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "key%d", i);
        cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, key, "v"), 0);
    }
    added = carry__store_add_missing(&ctx->store, &ctx->lock, "span_id", "0123456789abcdef", 16);
    cr_assert_str_eq(added, "0123456789abcdef");
    cr_assert_eq(carry__store_get(&ctx->store, "span_id"), added);
    const char *keys[64], *values[64];
    cr_assert_eq(carry__store_list(&ctx->store, keys, values, 64), 42, "seq, span_id and 40 keys");
    carry__ctx_unref(ctx);
}

/* Keys and values are copied without a call up to 16 bytes, in moves
 * that overlap: every length from 0 to 40 round-trips whole, NUL-ended,
 * and leaves its neighbours in the arena alone. */
Test(store, every_short_length_is_copied_whole)
{
    carry_ctx *ctx = carry__ctx_new();
    char key[48], value[48];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t i = 0; i < len; i++)
            value[i] = (char)('a' + (i * 5 + len) % 26);
        value[len] = '\0';
        size_t key_len = len + 1;
        for (size_t i = 0; i < key_len; i++)
            key[i] = (char)('A' + (i * 3 + len) % 26);
        key[key_len] = '\0';
        cr_assert_eq(carry__store_setn(&ctx->store, &ctx->lock, key, value, len), 0);
        cr_assert_str_eq(carry__store_get(&ctx->store, key), value, "length %zu", len);
    }
    /* Every entry still whole after the later ones were written. */
    for (size_t len = 0; len <= 40; len++) {
        for (size_t i = 0; i < len; i++)
            value[i] = (char)('a' + (i * 5 + len) % 26);
        value[len] = '\0';
        for (size_t i = 0; i < len + 1; i++)
            key[i] = (char)('A' + (i * 3 + len) % 26);
        key[len + 1] = '\0';
        const char *got = carry__store_get(&ctx->store, key);
        cr_assert_not_null(got, "key of %zu bytes", len + 1);
        cr_assert_eq(strlen(got), len, "value of %zu bytes", len);
        cr_assert_eq(memcmp(got, value, len + 1), 0, "value of %zu bytes", len);
    }
    carry__ctx_unref(ctx);
}

/* Keys around 8 bytes long, keys sharing their first 8 bytes and bytes of
 * either sign match only themselves. */
Test(store, keys_around_eight_bytes)
{
    static const char *const keys[] = {"a", "request", "request_", "request_i", "request_id",
                                       "request_ix", "\xc3\xa9t\xc3\xa9", "\xff\x80\x01",
                                       "0123456789abcdef", "0123456789abcdeg"};
    const size_t n = sizeof keys / sizeof keys[0];
    carry_ctx *ctx = carry__ctx_new();
    for (size_t i = 0; i < n; i++) {
        char value[8];
        snprintf(value, sizeof value, "v%zu", i);
        cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, keys[i], value), 0);
    }
    for (size_t i = 0; i < n; i++) {
        char value[8], copy[32];
        snprintf(value, sizeof value, "v%zu", i);
        /* A copy on the stack: lookups compare bytes, not pointers. */
        snprintf(copy, sizeof copy, "%s", keys[i]);
        cr_assert_str_eq(carry__store_get(&ctx->store, copy), value, "key %zu", i);
    }
    cr_assert_null(carry__store_get(&ctx->store, "request_i_"));
    cr_assert_null(carry__store_get(&ctx->store, "0123456789abcde"));
    cr_assert_null(carry__store_get(&ctx->store, "0123456789abcdefg"));
    carry__ctx_unref(ctx);
}

/* A key that ends just before an unmapped page is read without a fault. */
Test(store, key_at_the_end_of_a_page)
{
    long page = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    cr_assert_neq(map, MAP_FAILED);
    cr_assert_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
    carry_ctx *ctx = carry__ctx_new();
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "ab", "x"), 0);
    for (size_t len = 1; len <= 9; len++) {
        char *key = map + page - (len + 1);
        memset(key, 'a', len);
        key[len] = '\0';
        if (len == 2)
            key[1] = 'b';
        const char *got = carry__store_get(&ctx->store, key);
        if (len == 2)
            cr_assert_str_eq(got, "x");
        else
            cr_assert_null(got, "len %zu", len);
        cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, key, "y"), 0, "len %zu", len);
        cr_assert_str_eq(carry__store_get(&ctx->store, key), "y", "len %zu", len);
    }
    carry__ctx_unref(ctx);
    munmap(map, (size_t)page * 2);
}

Test(store, replaced_values_stay_valid_while_the_context_lives)
{
    carry_ctx *ctx = carry__ctx_new();
    carry__store_set(&ctx->store, &ctx->lock, "k", "first");
    const char *first = carry__store_get(&ctx->store, "k");
    carry__store_set(&ctx->store, &ctx->lock, "k", "second");
    carry__store_unset(&ctx->store, &ctx->lock, "k");
    cr_assert_str_eq(first, "first");
    cr_assert_null(carry__store_get(&ctx->store, "k"));
    carry__ctx_unref(ctx);
}

Test(store, setting_the_same_value_does_not_grow)
{
    carry_ctx *ctx = carry__ctx_new();
    carry__store_set(&ctx->store, &ctx->lock, "k", "same");
    const char *before = carry__store_get(&ctx->store, "k");
    for (int i = 0; i < 100; i++)
        cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "k", "same"), 0);
    cr_assert_eq(carry__store_get(&ctx->store, "k"), before, "value not replaced");
    carry__ctx_unref(ctx);
}

Test(store, value_limits)
{
    carry_ctx *ctx = carry__ctx_new();
    static char big[CARRY_VALUE_MAX + 2];
    memset(big, 'v', CARRY_VALUE_MAX + 1);
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "k", big), E2BIG);
    big[CARRY_VALUE_MAX] = '\0';
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "k", big), 0);
    cr_assert_eq(strlen(carry__store_get(&ctx->store, "k")), CARRY_VALUE_MAX);
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "empty", ""), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "empty"), "");
    carry__ctx_unref(ctx);
}

Test(store, key_check)
{
    size_t len;
    char key[CARRY_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    cr_assert_eq(carry__key_check(NULL, &len), EINVAL);
    cr_assert_eq(carry__key_check("", &len), EINVAL);
    cr_assert_eq(carry__key_check(key, &len), ENAMETOOLONG);
    key[CARRY_KEY_MAX] = '\0';
    cr_assert_eq(carry__key_check(key, &len), 0);
    cr_assert_eq(len, CARRY_KEY_MAX);
}

/* Writers cycle values "k<key>:<n>" through 4 keys while readers check
 * that every value they see belongs to the key they asked for and that
 * every pointer they were handed still reads what it read then. */
#define KEYS 4
#define WRITES 20000
#define HELD 64

struct stress {
    carry_ctx *ctx;
    int index;
    _Atomic int *writers_left;
    int bad;
};

static void *writer(void *p)
{
    struct stress *s = p;
    char value[32];
    for (int n = 0; n < WRITES; n++) {
        int key = (n + s->index) % KEYS;
        char name[8];
        snprintf(name, sizeof name, "k%d", key);
        snprintf(value, sizeof value, "k%d:%d:%d", key, s->index, n);
        if (carry__store_set(&s->ctx->store, &s->ctx->lock, name, value) != 0)
            s->bad++;
    }
    atomic_fetch_sub(s->writers_left, 1);
    return NULL;
}

static void *reader(void *p)
{
    struct stress *s = p;
    const char *held[HELD];
    char copies[HELD][32];
    int n = 0;
    while (atomic_load(s->writers_left) > 0 || n < HELD) {
        int key = n % KEYS;
        char name[8], prefix[8];
        snprintf(name, sizeof name, "k%d", key);
        snprintf(prefix, sizeof prefix, "k%d:", key);
        const char *v = carry__store_get(&s->ctx->store, name);
        if (v != NULL) {
            if (strncmp(v, prefix, strlen(prefix)) != 0)
                s->bad++;
            if (n < HELD) {
                held[n] = v;
                snprintf(copies[n], sizeof copies[n], "%s", v);
            }
        } else if (n < HELD) {
            held[n] = NULL;
        }
        n++;
    }
    for (int i = 0; i < HELD; i++)
        if (held[i] && strcmp(held[i], copies[i]) != 0)
            s->bad++;
    return NULL;
}

Test(store, concurrent_writers_and_readers, .timeout = 60)
{
    carry_ctx *ctx = carry__ctx_new();
    _Atomic int writers_left = 4;
    struct stress s[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        s[i] = (struct stress){ctx, i, &writers_left, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, i < 4 ? writer : reader, &s[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(s[i].bad, 0, "thread %d saw %d bad values", i, s[i].bad);
    }
    for (int k = 0; k < KEYS; k++) {
        char name[8];
        snprintf(name, sizeof name, "k%d", k);
        cr_assert_not_null(carry__store_get(&ctx->store, name));
    }
    carry__ctx_unref(ctx);
}

Test(store, many_keys_and_big_values_across_arena_chunks)
{
    carry_ctx *ctx = carry__ctx_new();
    static char big[5000];
    memset(big, 'b', sizeof big - 1);
    char key[16], value[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "key%d", i);
        snprintf(value, sizeof value, "value-%d", i);
        cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, key, value), 0);
        if (i % 50 == 0)
            cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "big", big), 0);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "key%d", i);
        snprintf(value, sizeof value, "value-%d", i);
        cr_assert_str_eq(carry__store_get(&ctx->store, key), value);
    }
    cr_assert_str_eq(carry__store_get(&ctx->store, "big"), big);
    carry__ctx_unref(ctx);
}

/* How much to scale the heavy tests down by: CARRY_TEST_SCALE (the
 * sanitizer test setups set it), else 1. */
static int test_scale(void)
{
    const char *scale = getenv("CARRY_TEST_SCALE");
    return scale && atoi(scale) > 0 ? atoi(scale) : 1;
}

static void key_value(char *key, char *value, size_t size, long i)
{
    snprintf(key, size, "key%ld", i);
    snprintf(value, size, "value-%ld", i);
}

/* Across the switch from the list to an index and every growth of the
 * index: after each new key, every key set so far reads back, absent keys
 * stay absent, a value handed out before still reads what it did, and
 * listing gives every key, newest first. */
Test(store, every_key_reads_back_across_index_growth)
{
    enum { N = 300 };
    carry_ctx *ctx = carry__ctx_new();
    const char *first_values[N];
    char key[32], value[32];
    for (long n = 0; n < N; n++) {
        key_value(key, value, sizeof key, n);
        cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, key, value), 0);
        first_values[n] = carry__store_get(&ctx->store, key);
        for (long i = 0; i <= n; i++) {
            key_value(key, value, sizeof key, i);
            cr_assert_str_eq(carry__store_get(&ctx->store, key), value, "key %ld of %ld", i, n + 1);
            cr_assert_str_eq(first_values[i], value);
        }
        key_value(key, value, sizeof key, n + 1);
        cr_assert_null(carry__store_get(&ctx->store, key), "absent key %ld", n + 1);
        cr_assert_null(carry__store_get(&ctx->store, "ke"));

        const char *keys[N], *values[N];
        cr_assert_eq(carry__store_list(&ctx->store, keys, values, N), (size_t)n + 1);
        for (long i = 0; i <= n; i++) {
            key_value(key, value, sizeof key, n - i);
            cr_assert_str_eq(keys[i], key, "listed %ld of %ld", i, n + 1);
            cr_assert_str_eq(values[i], value);
        }
    }
    /* Replacing and unsetting in an indexed store. */
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "key7", "seven"), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "key7"), "seven");
    cr_assert_str_eq(first_values[7], "value-7");
    cr_assert_eq(carry__store_unset(&ctx->store, &ctx->lock, "key8"), 0);
    cr_assert_null(carry__store_get(&ctx->store, "key8"));
    cr_assert_eq(carry__store_unset(&ctx->store, &ctx->lock, "key8"), ENOENT);
    cr_assert_eq(carry__store_unset(&ctx->store, &ctx->lock, "key300"), ENOENT);
    cr_assert_eq(carry__store_list(&ctx->store, NULL, NULL, 0), (size_t)N - 1);
    cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, "key8", "eight"), 0);
    cr_assert_str_eq(carry__store_get(&ctx->store, "key8"), "eight");
    carry__ctx_unref(ctx);
}

/* A million distinct keys (fewer under the sanitizers) in one context: each
 * reads back its own value, and listing counts them all.  With a store
 * whose cost grows with the square of its keys this does not finish. */
Test(store, a_million_keys, .timeout = 60)
{
    const long n = 1000000 / test_scale();
    carry_ctx *ctx = carry__ctx_new();
    char key[32], value[32];
    for (long i = 0; i < n; i++) {
        key_value(key, value, sizeof key, i);
        cr_assert_eq(carry__store_set(&ctx->store, &ctx->lock, key, value), 0, "key %ld", i);
    }
    long wrong = 0;
    for (long i = 0; i < n; i++) {
        key_value(key, value, sizeof key, i);
        const char *got = carry__store_get(&ctx->store, key);
        if (got == NULL || strcmp(got, value) != 0)
            wrong++;
    }
    cr_assert_eq(wrong, 0, "%ld of %ld keys read back wrong", wrong, n);
    key_value(key, value, sizeof key, n);
    cr_assert_null(carry__store_get(&ctx->store, key));
    cr_assert_eq(carry__store_list(&ctx->store, NULL, NULL, 0), (size_t)n);
    carry__ctx_unref(ctx);
}

/* One writer sets distinct keys, growing the index many times, and after
 * each says how many it has set; readers on other threads check that every
 * key set before their read began reads back its own value (the newest,
 * the oldest and a spread between), and that the values they were handed
 * still read what they did. */
struct growth {
    carry_ctx *ctx;
    long keys;
    _Atomic long set; /* keys set so far */
    _Atomic int bad;
};

static void *growth_writer(void *p)
{
    struct growth *g = p;
    char key[32], value[32];
    for (long i = 0; i < g->keys; i++) {
        key_value(key, value, sizeof key, i);
        if (carry__store_set(&g->ctx->store, &g->ctx->lock, key, value) != 0)
            atomic_fetch_add(&g->bad, 1);
        atomic_store_explicit(&g->set, i + 1, memory_order_release);
    }
    return NULL;
}

static void *growth_reader(void *p)
{
    struct growth *g = p;
    const char *held[HELD] = {0};
    long held_at[HELD] = {0};
    long reads = 0, set;
    char key[32], value[32];
    do {
        set = atomic_load_explicit(&g->set, memory_order_acquire);
        if (set == 0)
            continue;
        long probes[] = {set - 1, 0, (reads * 7919) % set, set / 2};
        for (size_t k = 0; k < CARRY__COUNT(probes); k++) {
            key_value(key, value, sizeof key, probes[k]);
            const char *got = carry__store_get(&g->ctx->store, key);
            if (got == NULL || strcmp(got, value) != 0) {
                atomic_fetch_add(&g->bad, 1);
            } else if (reads % 97 == 0) {
                held[reads / 97 % HELD] = got;
                held_at[reads / 97 % HELD] = probes[k];
            }
        }
        if (carry__store_list(&g->ctx->store, NULL, NULL, 0) < (size_t)set)
            atomic_fetch_add(&g->bad, 1);
        reads++;
    } while (set < g->keys);
    for (int i = 0; i < HELD; i++) {
        key_value(key, value, sizeof key, held_at[i]);
        if (held[i] != NULL && strcmp(held[i], value) != 0)
            atomic_fetch_add(&g->bad, 1);
    }
    return NULL;
}

Test(store, readers_see_every_key_while_the_index_grows, .timeout = 60)
{
    carry_ctx *ctx = carry__ctx_new();
    struct growth g = {.ctx = ctx, .keys = 200000 / test_scale()};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, i == 0 ? growth_writer : growth_reader, &g), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&g.bad), 0, "%d keys missing or wrong", atomic_load(&g.bad));
    carry__ctx_unref(ctx);
}
