/*
 * micro - microbenchmarks of carry's API and of its pthread_create wrapper.
 *
 * Prints one line per benchmark, "NAME ns_per_op", on stdout:
 *
 *   carry_id             carry_id() inside a context made with carry_begin()
 *   carry_get            carry_get() of one of 4 keys (alternating) in a
 *                        store holding those 4 keys
 *   carry_get_miss       carry_get() of a key the store does not hold
 *   carry_set            carry_set() of one key to 2 alternating values (a
 *                        real replacement each time); a fresh context every
 *                        1000 sets, its carry_begin/carry_release amortised
 *                        into the figure (replaced values are kept until
 *                        the context dies)
 *   capture_release      carry_capture() + carry_release()
 *   carry_run            carry_run() of an empty function with a captured
 *                        context, from a thread with no current context (a
 *                        worker running a queued job)
 *   pthread_create_join  pthread_create() + pthread_join() of a thread
 *                        running an empty function, created from inside a
 *                        context (so carry captures it and the child adopts
 *                        it)
 *
 * Each benchmark is calibrated to run about 75 ms (15 ms with --quick) and
 * repeated 5 times (3 with --quick); the best repetition is reported.
 *
 * Nothing is linked against libcarry: carry.h finds it at run time when it
 * is preloaded.  Without it the API is a no-op and the same names are
 * printed, with the cost of the no-op path.  stderr says which it was.
 * MICRO_DEBUG=1 in the environment prints calibration and repetitions.
 *
 * usage: micro [--quick] [--only NAME]... [--list]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carry.h"

#define NOINLINE __attribute__((noinline))
#define CLOBBER() __asm__ volatile("" ::: "memory")

/* Sinks the compiler must write, so it cannot drop the calls feeding them. */
static volatile uint64_t sink_u64;
static volatile const void *sink_ptr;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Shared state for setup / teardown. */

static carry_ctx *bench_handle;   /* from carry_begin, released at teardown */
static carry_ctx *bench_captured; /* for carry_run */

static const char *const get_keys[4] = {"request", "user", "trace", "tenant"};
static const char *const set_values[2] = {"alice", "bob"};

static void setup_context(void)
{
    bench_handle = carry_begin();
}

/* Leaves the current context and gives the handle back: the context dies. */
static void teardown_context(void)
{
    carry_enter(NULL);
    carry_release(bench_handle);
    bench_handle = NULL;
}

static void setup_store(void)
{
    setup_context();
    for (int i = 0; i < 4; i++)
        carry_set(get_keys[i], set_values[i & 1]);
}

static void setup_run(void)
{
    setup_context();
    bench_captured = carry_capture();
    /* Run the jobs from no context, as a worker thread would. */
    carry_enter(NULL);
}

static void teardown_run(void)
{
    carry_release(bench_captured);
    bench_captured = NULL;
    teardown_context();
}

/* ------------------------------------------------------------------ */
/* The timed loops: each runs n operations. */

static void loop_id(uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        acc += carry_id();
        CLOBBER();
    }
    sink_u64 = acc;
}

static void loop_get(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        sink_ptr = carry_get(get_keys[i & 3]);
        CLOBBER();
    }
}

static void loop_get_miss(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        sink_ptr = carry_get("absent");
        CLOBBER();
    }
}

#define SET_BLOCK 1000u

static void loop_set(uint64_t n)
{
    uint64_t acc = 0;
    while (n > 0) {
        uint64_t block = n < SET_BLOCK ? n : SET_BLOCK;
        carry_ctx *h = carry_begin();
        for (uint64_t i = 0; i < block; i++) {
            acc += (uint64_t)carry_set("user", set_values[i & 1]);
            CLOBBER();
        }
        carry_enter(NULL);
        carry_release(h);
        n -= block;
    }
    sink_u64 = acc;
}

static void loop_capture_release(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        carry_ctx *c = carry_capture();
        CLOBBER();
        carry_release(c);
        CLOBBER();
    }
}

static NOINLINE void *empty_job(void *arg)
{
    CLOBBER();
    return arg;
}

static void loop_run(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        sink_ptr = carry_run(bench_captured, empty_job, NULL);
        CLOBBER();
    }
}

static NOINLINE void *empty_thread(void *arg)
{
    CLOBBER();
    return arg;
}

static void loop_pthread(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        pthread_t t;
        int rc = pthread_create(&t, NULL, empty_thread, NULL);
        if (rc != 0) {
            fprintf(stderr, "micro: pthread_create: %s\n", strerror(rc));
            exit(1);
        }
        void *ret;
        pthread_join(t, &ret);
        sink_ptr = ret;
    }
}

/* ------------------------------------------------------------------ */

struct bench {
    const char *name;
    void (*setup)(void);
    void (*loop)(uint64_t n);
    void (*teardown)(void);
};

static const struct bench benches[] = {
    {"carry_id", setup_context, loop_id, teardown_context},
    {"carry_get", setup_store, loop_get, teardown_context},
    {"carry_get_miss", setup_store, loop_get_miss, teardown_context},
    {"carry_set", NULL, loop_set, NULL},
    {"capture_release", setup_context, loop_capture_release, teardown_context},
    {"carry_run", setup_run, loop_run, teardown_run},
    {"pthread_create_join", setup_context, loop_pthread, teardown_context},
};
#define NBENCH (sizeof benches / sizeof benches[0])

static uint64_t time_loop(const struct bench *b, uint64_t n)
{
    if (b->setup)
        b->setup();
    uint64_t t0 = now_ns();
    b->loop(n);
    uint64_t t1 = now_ns();
    if (b->teardown)
        b->teardown();
    return t1 - t0;
}

#define MIN_CALIBRATE 64

/* MICRO_DEBUG set in the environment: print calibration and every
 * repetition on stderr. */
static int debug;

/* Best ns/op over reps repetitions of about target_ns each. */
static double measure(const struct bench *b, uint64_t target_ns, int reps)
{
    /* Calibrate: grow n until one run takes a tenth of the target (this
     * also warms caches and the allocator up), then scale.  At least
     * MIN_CALIBRATE operations, so that one slow first operation (a cold
     * CPU woken for a new thread can take milliseconds on a VM) cannot make
     * every repetition a handful of operations long. */
    uint64_t n = 1, t;
    for (;;) {
        t = time_loop(b, n);
        if (debug)
            fprintf(stderr, "micro: %s calibrate: n=%llu %llu ns\n", b->name,
                    (unsigned long long)n, (unsigned long long)t);
        if ((t >= target_ns / 10 && n >= MIN_CALIBRATE) || n >= (UINT64_C(1) << 40))
            break;
        n *= t < target_ns / 1000 ? 10 : 2;
    }
    if (t == 0)
        t = 1;
    double scaled = (double)n * (double)target_ns / (double)t;
    n = scaled < 1 ? 1 : (uint64_t)scaled;

    double best = 0;
    for (int r = 0; r < reps; r++) {
        double ns = (double)time_loop(b, n) / (double)n;
        if (debug)
            fprintf(stderr, "micro: %s rep %d: n=%llu %.2f ns/op\n", b->name, r,
                    (unsigned long long)n, ns);
        if (r == 0 || ns < best)
            best = ns;
    }
    return best;
}

/* ------------------------------------------------------------------ */
/* Checks that the benchmarks measure what they claim when carry is loaded:
 * a figure taken on an error path would look good and mean nothing. */

static void *report_id(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)carry_id();
}

static int sanity(void)
{
    int bad = 0;
    carry_ctx *h = carry_begin();
    uint64_t id = carry_id();
    if (h == NULL || id == 0) {
        fprintf(stderr, "micro: carry_begin made no current context\n");
        return 1;
    }
    for (int i = 0; i < 4; i++)
        if (carry_set(get_keys[i], set_values[i & 1]) != 0) {
            fprintf(stderr, "micro: carry_set(%s): %s\n", get_keys[i], strerror(errno));
            bad = 1;
        }
    for (int i = 0; i < 4; i++) {
        const char *v = carry_get(get_keys[i]);
        if (v == NULL || strcmp(v, set_values[i & 1]) != 0) {
            fprintf(stderr, "micro: carry_get(%s) gave %s\n", get_keys[i], v ? v : "NULL");
            bad = 1;
        }
    }
    if (carry_set("user", set_values[0]) != 0 ||
        strcmp(carry_get("user") ? carry_get("user") : "", set_values[0]) != 0) {
        fprintf(stderr, "micro: carry_set did not replace a value\n");
        bad = 1;
    }
    if (carry_get("absent") != NULL) {
        fprintf(stderr, "micro: carry_get of an absent key is not NULL\n");
        bad = 1;
    }
    carry_ctx *c = carry_capture();
    if (c == NULL || carry_ctx_id(c) != id) {
        fprintf(stderr, "micro: carry_capture did not capture the current context\n");
        bad = 1;
    }
    pthread_t t;
    void *ret = NULL;
    if (pthread_create(&t, NULL, report_id, NULL) == 0) {
        pthread_join(t, &ret);
        if ((uint64_t)(uintptr_t)ret != id) {
            fprintf(stderr,
                    "micro: a thread created in a context does not start in it "
                    "(CARRY_MODE without threads?): pthread_create_join measures no capture\n");
            bad = 1;
        }
    }
    carry_enter(NULL);
    if ((uint64_t)(uintptr_t)carry_run(c, report_id, NULL) != id || carry_id() != 0) {
        fprintf(stderr, "micro: carry_run did not switch to the context and back\n");
        bad = 1;
    }
    carry_release(c);
    carry_release(h);
    return bad;
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: micro [--quick] [--only NAME]... [--list]\n"
               "  --quick      fewer iterations (about 15 ms x 3 per benchmark)\n"
               "  --only NAME  run only this benchmark (may be repeated)\n"
               "  --list       print the benchmark names and exit\n"
               "Prints \"NAME ns_per_op\" per benchmark.\n");
}

int main(int argc, char **argv)
{
    uint64_t target_ns = 75000000;
    int reps = 5;
    int selected[NBENCH] = {0};
    int any_selected = 0;

    debug = getenv("MICRO_DEBUG") != NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            target_ns = 15000000;
            reps = 3;
        } else if (strcmp(argv[i], "--only") == 0 || strncmp(argv[i], "--only=", 7) == 0) {
            const char *name;
            if (argv[i][6] == '=')
                name = argv[i] + 7;
            else if (i + 1 < argc)
                name = argv[++i];
            else {
                usage(stderr);
                return 2;
            }
            size_t k;
            for (k = 0; k < NBENCH; k++)
                if (strcmp(benches[k].name, name) == 0)
                    break;
            if (k == NBENCH) {
                fprintf(stderr, "micro: unknown benchmark '%s' (--list names them)\n", name);
                return 2;
            }
            selected[k] = 1;
            any_selected = 1;
        } else if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < NBENCH; k++)
                printf("%s\n", benches[k].name);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    if (carry_available()) {
        fprintf(stderr, "micro: libcarry loaded\n");
        if (sanity() != 0)
            fprintf(stderr, "micro: warning: sanity checks failed; figures may not mean "
                            "what their names say\n");
    } else {
        fprintf(stderr, "micro: libcarry not loaded (the API is a no-op)\n");
    }

    for (size_t k = 0; k < NBENCH; k++) {
        if (any_selected && !selected[k])
            continue;
        double ns = measure(&benches[k], target_ns, reps);
        printf("%s %.2f\n", benches[k].name, ns);
        fflush(stdout);
    }
    return 0;
}
