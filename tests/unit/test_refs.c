/* References: internal ones, API handles, the thread's current context,
 * and what carry_run, thread exit and cancellation do to them. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "current.h"
#include "http.h"
#include "leaks.h"
#include "log.h"

static uint64_t live_before;
static char warned[4096];

static void sink(const char *line, size_t len)
{
    strncat(warned, line, len < sizeof warned - strlen(warned) - 1 ? len : 0);
}

static void setup(void)
{
    live_before = carry__ctx_live();
    warned[0] = '\0';
    carry__set_warn_sink(sink);
}

static void teardown(void)
{
    carry__current_adopt(NULL);
    carry__set_warn_sink(NULL);
    carry_test_no_leaks(live_before);
}

TestSuite(refs, .init = setup, .fini = teardown);

static const struct carry_api *api(void)
{
    const struct carry_api *a = carry_api_v1();
    cr_assert_not_null(a);
    return a;
}

/* Internal references of either kind: in refs, and the owner's in biased
 * (read here only while the owner is this thread or has ended). */
static uint32_t internal_refs(carry_ctx *ctx)
{
    return (uint32_t)atomic_load(&ctx->refs) + ctx->biased;
}

static uint32_t handle_refs(carry_ctx *ctx)
{
    return (uint32_t)((atomic_load(&ctx->refs) & CARRY__REF_COUNTS) >> 32);
}

static void *current_id(void *unused)
{
    (void)unused;
    return (void *)(uintptr_t)api()->id();
}

Test(refs, a_context_dies_with_its_last_reference)
{
    carry_ctx *ctx = carry__ctx_new();
    cr_assert_eq(carry__ctx_live(), live_before + 1);
    carry__ctx_ref(ctx);
    carry__ctx_unref(ctx);
    cr_assert(carry__ctx_alive(ctx));
    carry__ctx_unref(ctx);
    cr_assert(!carry__ctx_alive(ctx));
}

Test(refs, begin_capture_release)
{
    carry_ctx *ctx = api()->begin();
    cr_assert_not_null(ctx);
    cr_assert_eq(carry__current(), ctx);
    cr_assert_eq(internal_refs(ctx), 1, "the thread's");
    cr_assert_eq(handle_refs(ctx), 1, "begin's");
    carry_ctx *again = api()->capture();
    cr_assert_eq(again, ctx);
    cr_assert_eq(handle_refs(ctx), 2);
    api()->release(again);
    api()->release(ctx);
    cr_assert(carry__ctx_alive(ctx), "the thread still runs in it");
    api()->enter(NULL);
    cr_assert(!carry__ctx_alive(ctx));
    cr_assert_str_empty(warned);
}

Test(refs, double_release_is_caught_while_the_context_lives)
{
    carry_ctx *ctx = api()->begin();
    api()->release(ctx);
    api()->release(ctx);
    cr_assert_not_null(strstr(warned, "more releases than captures"), "%s", warned);
    cr_assert_eq(internal_refs(ctx), 1, "the thread's reference was not stolen");
    cr_assert(carry__ctx_alive(ctx));
}

Test(refs, release_after_death_is_caught)
{
    carry_ctx *ctx = api()->begin();
    api()->enter(NULL);
    api()->release(ctx);
    cr_assert(!carry__ctx_alive(ctx));
    api()->release(ctx);
    cr_assert_not_null(strstr(warned, "already dead"), "%s", warned);
    cr_assert_eq(api()->run(ctx, current_id, NULL), NULL, "a dead handle runs with no context");
    cr_assert_not_null(strstr(warned, "carry_run"), "%s", warned);
}

Test(refs, run_moves_references_and_restores)
{
    carry_ctx *a = api()->begin();
    carry_ctx *b = api()->begin();
    cr_assert_eq(internal_refs(a), 0, "begin(b) left a");
    cr_assert_eq((uint64_t)(uintptr_t)api()->run(a, current_id, NULL), a->id);
    cr_assert_eq(carry__current(), b);
    cr_assert_eq(internal_refs(a), 0);
    cr_assert_eq(internal_refs(b), 1);
    cr_assert_eq(api()->run(NULL, current_id, NULL), NULL);
    cr_assert_eq(carry__current(), b);
    api()->release(a);
    api()->release(b);
}

static void *enter_and_exit(void *ctx)
{
    carry__current_switch(ctx);
    return NULL;
}

Test(refs, a_thread_exiting_in_a_context_releases_it)
{
    carry_ctx *ctx = carry__ctx_new();
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, enter_and_exit, ctx), 0);
    pthread_join(t, NULL);
    cr_assert_eq(internal_refs(ctx), 1);
    carry__ctx_unref(ctx);
}

struct cancel {
    carry_ctx *outer, *inner;
    int fd;
};

static void *block(void *p)
{
    char c;
    read(*(int *)p, &c, 1); /* a cancellation point that never returns */
    return NULL;
}

static void *run_and_block(void *p)
{
    struct cancel *c = p;
    carry__current_switch(c->outer);
    api()->run(c->inner, block, &c->fd);
    return NULL;
}

Test(refs, cancelling_a_thread_inside_carry_run_releases_everything)
{
#ifdef __SANITIZE_ADDRESS__
    /* gcc 12's ASan reports a stack-buffer-underflow in its own sigaltstack
     * interceptor during the forced unwind of a cancelled thread. */
    cr_skip_test("ASan false positive on forced unwinding");
#endif
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct cancel c = {carry__ctx_new(), carry__ctx_new(), fds[0]};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, run_and_block, &c), 0);
    /* Wait until the thread is inside carry_run (it holds inner). */
    while (internal_refs(c.inner) < 2)
        sched_yield();
    pthread_cancel(t);
    void *result;
    pthread_join(t, &result);
    cr_assert_eq(result, PTHREAD_CANCELED);
    cr_assert_eq(internal_refs(c.inner), 1, "carry_run's reference released by the unwind");
    cr_assert_eq(internal_refs(c.outer), 1, "outer restored, then released at thread exit");
    carry__ctx_unref(c.inner);
    carry__ctx_unref(c.outer);
    close(fds[0]);
    close(fds[1]);
}

/* ---- Biased references (context.c) ------------------------------------- */

static carry__slot shared_slot;

static void *empty_the_slot(void *unused)
{
    (void)unused;
    carry__slot_store(&shared_slot, NULL);
    return NULL;
}

/* The owner's own scopes cost no atomics; another thread that lets go of
 * the last reference in refs while the owner runs in the context must not
 * kill it: it hands it to the owner, whose next rule-D point settles it. */
Test(refs, the_owner_settles_what_another_thread_let_go_of)
{
    carry_ctx *ctx = carry__ctx_new();
    carry__slot_store(&shared_slot, ctx);
    carry__ctx_unref(ctx);
    cr_assert_eq(atomic_load(&ctx->refs), 1, "the slot's, in refs");

    carry_ctx *mine = carry__slot_take_local(&shared_slot);
    cr_assert_eq(mine, ctx);
    cr_assert_eq(ctx->biased, 1, "the owner's scope counts in biased");
    cr_assert_eq(atomic_load(&ctx->refs), 1, "and leaves refs alone");

    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, empty_the_slot, NULL), 0);
    pthread_join(t, NULL);
    cr_assert(carry__ctx_alive(ctx), "alive while its owner runs in it");
    cr_assert_eq(atomic_load(&ctx->refs), CARRY__REF_QUEUED, "queued to its owner");
    cr_assert_eq(carry__ctx_live(), live_before + 1);

    carry__ctx_unref_local(mine);
    cr_assert(carry__ctx_alive(ctx), "queued: settled at the owner's next rule-D point");
    carry__dispatch();
    cr_assert(!carry__ctx_alive(ctx));
    cr_assert_eq(carry__ctx_live(), live_before);
}

/* Without a scope of the owner's, the same hand-over ends at the owner's
 * next rule-D point too; and a context taken again from the queue lives. */
Test(refs, a_queued_context_taken_again_lives_on)
{
    carry_ctx *ctx = carry__ctx_new();
    carry__slot_store(&shared_slot, ctx);
    carry__ctx_unref(ctx);
    carry_ctx *mine = carry__slot_take_local(&shared_slot);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, empty_the_slot, NULL), 0);
    pthread_join(t, NULL);
    /* The owner, still in it, hands it on before leaving. */
    carry__slot_store(&shared_slot, mine);
    carry__ctx_unref_local(mine);
    carry__dispatch();
    cr_assert(carry__ctx_alive(ctx), "the slot holds it again");
    cr_assert_eq(atomic_load(&ctx->refs), 1);
    carry__slot_store(&shared_slot, NULL);
    cr_assert(!carry__ctx_alive(ctx), "the owner let go of it last: at once");
    cr_assert_eq(carry__ctx_live(), live_before);
}

static void *make_and_end(void *unused)
{
    (void)unused;
    carry_ctx *ctx = carry__ctx_new_local();
    carry__slot_store(&shared_slot, ctx);
    carry__current_adopt(ctx);
    return ctx; /* the thread's exit hook releases it and ends its ownership */
}

/* Once its owner has ended, a context dies with its last reference,
 * wherever that goes. */
Test(refs, contexts_of_an_ended_owner_die_with_their_last_reference)
{
    pthread_t t;
    void *made;
    cr_assert_eq(pthread_create(&t, NULL, make_and_end, NULL), 0);
    pthread_join(t, &made);
    carry_ctx *ctx = made;
    cr_assert_eq(ctx->biased, 0, "the thread's reference went at its exit");
    cr_assert_eq(internal_refs(ctx), 1, "the slot's");
    carry__slot_store(&shared_slot, NULL);
    cr_assert(!carry__ctx_alive(ctx));
    cr_assert_eq(carry__ctx_live(), live_before);
}

/* Threads make contexts, put them in shared slots, take them out and run
 * in them, and let go of them, all at once: a context must never die (its
 * memory then goes to another context, with another id) while a thread
 * holds a reference, and every one must die in the end. */
#define STRESS_SLOTS 16
#define STRESS_THREADS 4
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define STRESS_ROUNDS 20000
#else
#define STRESS_ROUNDS 200000
#endif

static carry__slot stress_slots[STRESS_SLOTS];
static _Atomic unsigned stress_bad, stress_entered;

static void *refs_stress(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < STRESS_ROUNDS; i++) {
        unsigned r = (unsigned)rand_r(&seed);
        carry__slot *slot = &stress_slots[r % STRESS_SLOTS];
        switch ((r >> 8) % 8) {
        case 0: {
            carry_ctx *ctx = carry__ctx_new();
            cr_assert_not_null(ctx);
            carry__slot_store(slot, ctx);
            carry__ctx_unref(ctx);
            break;
        }
        case 1:
            carry__slot_store(slot, NULL);
            break;
        case 2:
            carry__dispatch();
            break;
        default: {
            carry_ctx *ctx = carry__slot_take_local(slot);
            if (ctx == NULL)
                break;
            carry__current_adopt(ctx);
            uint64_t id = ctx->id;
            for (volatile int spin = 0; spin < 64; spin++)
                ;
            if (!carry__ctx_alive(ctx) || ctx->id != id)
                atomic_fetch_add(&stress_bad, 1);
            atomic_fetch_add(&stress_entered, 1);
            if (r & (1u << 20))
                carry__current_adopt(NULL);
        }
        }
    }
    carry__current_adopt(NULL);
    return NULL;
}

Test(refs, contexts_never_die_under_a_reference, .timeout = 120)
{
    pthread_t t[STRESS_THREADS];
    for (uintptr_t i = 0; i < STRESS_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, refs_stress, (void *)(i + 1)), 0);
    for (int i = 0; i < STRESS_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < STRESS_SLOTS; i++)
        carry__slot_store(&stress_slots[i], NULL);
    carry__dispatch();
    cr_assert_eq(atomic_load(&stress_bad), 0, "a context died under a reference");
    cr_assert_gt(atomic_load(&stress_entered), STRESS_ROUNDS, "the threads ran in contexts");
    cr_assert_eq(carry__ctx_live(), live_before, "every context died in the end");
}

/* Rule R's link: a request holds its connection, and reads through it. */
Test(refs, a_request_reads_through_to_its_connection_and_holds_it)
{
    carry_ctx *conn = carry__ctx_new();
    cr_assert_eq(carry__ctx_set(conn, "peer", "10.0.0.1:5000"), 0);
    cr_assert_eq(carry__ctx_set(conn, "shared", "conn's"), 0);
    carry_ctx *req = carry__ctx_new();
    carry__ctx_ref(conn);
    req->parent = conn;
    req->seq = 42;
    cr_assert_eq(carry__ctx_set(req, "shared", "request's"), 0);

    cr_assert_str_eq(carry__ctx_get(req, "peer"), "10.0.0.1:5000", "the connection's key");
    cr_assert_str_eq(carry__ctx_get(req, "shared"), "request's", "its own key first");
    cr_assert_str_eq(carry__ctx_get(conn, "shared"), "conn's", "the connection is untouched");
    cr_assert_null(carry__ctx_get(req, "absent"));
    char want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)conn->id);
    const char *c = carry__ctx_get(req, "conn");
    cr_assert_str_eq(c, want);
    cr_assert_eq(carry__ctx_get(req, "conn"), c, "derived once, then the same pointer");
    cr_assert_str_eq(carry__ctx_get(req, "seq"), "42");
    cr_assert_null(carry__ctx_get(conn, "conn"), "a connection has no derived keys");
    cr_assert_null(carry__ctx_get(conn, "seq"));

    /* The connection outlives its fd's reference while the request lives. */
    carry__ctx_unref(conn);
    cr_assert(carry__ctx_alive(conn), "the request still holds it");
    cr_assert_str_eq(carry__ctx_get(req, "peer"), "10.0.0.1:5000");
    carry__ctx_unref(req);
    cr_assert(!carry__ctx_alive(req));
    cr_assert(!carry__ctx_alive(conn), "the request's death let go of it");
}

/* key, which ctx keeps raw, reads as want aside until its first read
 * (through reader: ctx, or a request of it), which writes it into ctx's
 * store once; returns the value read, the same pointer ever after. */
static const char *expect_kept_until_read(carry_ctx *ctx, carry_ctx *reader, const char *key,
                                          const char *want)
{
    char buf[CARRY__ADDR_MAX];
    const char *unread = carry__ctx_unread(ctx, key, buf);
    cr_assert_not_null(unread, "%s: kept, not read yet", key);
    cr_assert_str_eq(unread, want, "%s", key);
    const char *value = carry__ctx_get(reader, key);
    cr_assert_str_eq(value, want, "%s", key);
    cr_assert_eq(carry__ctx_get(ctx, key), value, "%s: written once, in its own store", key);
    cr_assert_null(carry__ctx_unread(ctx, key, buf), "%s: read, the store's own", key);
    return value;
}

/* A connection's addresses are kept as the kernel gave them and become
 * its keys peer and local at their first read, through the connection or
 * any of its requests: the same text and pointer ever after, then set and
 * unset as any key.  A derived key unset before it was ever read stays
 * unset. */
Test(refs, addresses_become_keys_at_their_first_read)
{
    carry_ctx *conn = carry__ctx_new();
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(5000),
                               .sin_addr.s_addr = htonl(0x0a000001)};
    struct carry__sockaddr local = {.len = sizeof(struct sockaddr_in)};
    struct sockaddr_in *in = (struct sockaddr_in *)&local.ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(80);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    carry__ctx_keep_addresses(conn, (struct sockaddr *)&peer, sizeof peer, &local);
    carry_ctx *req = carry__ctx_new();
    carry__ctx_ref(conn);
    req->parent = conn;
    req->seq = 7;

    char buf[CARRY__ADDR_MAX];
    cr_assert_eq(carry__ctx_unread(conn, "peer", buf), buf, "not read yet: formatted aside");
    const char *keys[4], *values[4];
    cr_assert_eq(carry__store_list(&conn->store, keys, values, 4), 0, "no key before a read");
    const char *p = expect_kept_until_read(conn, req, "peer", "10.0.0.1:5000");
    cr_assert_str_eq(carry__ctx_get(conn, "local"), "127.0.0.1:80");
    cr_assert_eq(carry__store_list(&conn->store, keys, values, 4), 2);
    cr_assert_null(carry__ctx_get(req, "absent"));

    cr_assert_eq(carry__ctx_unset(req, "peer"), ENOENT, "the request's store has no peer");
    cr_assert_eq(carry__ctx_get(req, "peer"), p);
    cr_assert_eq(carry__ctx_unset(conn, "local"), 0);
    cr_assert_null(carry__ctx_get(req, "local"));
    cr_assert_null(carry__ctx_unread(conn, "local", buf), "unset: no longer unread");
    cr_assert_eq(carry__ctx_set(conn, "peer", "elsewhere"), 0);
    cr_assert_str_eq(carry__ctx_get(req, "peer"), "elsewhere");
    cr_assert_str_eq(p, "10.0.0.1:5000", "the value replaced stays valid");

    cr_assert_eq(carry__ctx_unset(req, "seq"), 0, "a derived key unset before its first read");
    cr_assert_null(carry__ctx_get(req, "seq"));
    carry_ctx *none = carry__ctx_new();
    cr_assert_null(carry__ctx_get(none, "peer"), "a context with no addresses");
    cr_assert_null(carry__ctx_unread(none, "local", buf));
    carry__ctx_unref(none);
    carry__ctx_unref(conn);
    carry__ctx_unref(req);
    cr_assert(!carry__ctx_alive(conn));
}

/* A request's HTTP keys are kept as its head gave them and become keys
 * at their first read: the same pointer ever after, then set and unset as
 * any key.  A key its head did not have is its connection's, and the raw
 * head is never taken for addresses (nor a connection's addresses for a
 * head). */
Test(refs, http_keys_become_keys_at_their_first_read)
{
    carry_ctx *conn = carry__ctx_new();
    cr_assert_eq(carry__ctx_set(conn, "request_id", "the connection's"), 0);
    carry_ctx *req = carry__ctx_new();
    carry__ctx_ref(conn);
    req->parent = conn;
    req->seq = 1;
    static const char head[] =
        "POST /items?id=7 HTTP/1.1\r\n"
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
    struct carry__http_head h;
    cr_assert(carry__http_head_read(head, sizeof head - 1, &h));
    carry__ctx_keep_http(req, &h);

    char buf[CARRY__ADDR_MAX];
    cr_assert_null(carry__ctx_unread(req, "request_id", buf), "the head had none");
    cr_assert_null(carry__ctx_unread(req, "peer", buf), "a head is no address");
    const char *keys[4], *values[4];
    cr_assert_eq(carry__store_list(&req->store, keys, values, 4), 0, "no key before a read");

    const char *method = expect_kept_until_read(req, req, "http.method", "POST");
    cr_assert_str_eq(carry__ctx_get(req, "traceparent"),
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    cr_assert_str_eq(carry__ctx_get(req, "request_id"), "the connection's");
    cr_assert_eq(carry__store_list(&req->store, keys, values, 4), 2);

    cr_assert_eq(carry__ctx_unset(req, "http.target"), 0, "unset before its first read");
    cr_assert_null(carry__ctx_get(req, "http.target"));
    cr_assert_null(carry__ctx_unread(req, "http.target", buf));
    cr_assert_eq(carry__ctx_set(req, "http.method", "GET"), 0);
    cr_assert_str_eq(carry__ctx_get(req, "http.method"), "GET");
    cr_assert_str_eq(method, "POST", "the value replaced stays valid");
    cr_assert_null(carry__ctx_get(conn, "http.method"), "a connection has no head");
    cr_assert_null(carry__ctx_unread(conn, "http.method", buf));

    carry__ctx_unref(conn);
    carry__ctx_unref(req);
    cr_assert(!carry__ctx_alive(conn));
}

/* The fd gives its reference back while its request is renewed in place
 * (another thread closed it): the put counts down from RENEWING, which
 * the sanitizer builds' reference checks allow; once renewed and let go
 * of by its thread, the context dies. */
Test(refs, a_reference_given_back_during_a_renewal)
{
    carry_ctx *ctx = carry__ctx_new_local();
    cr_assert_not_null(ctx);
    carry__ctx_ref(ctx);
    struct carry__chunk *arena;
    cr_assert(carry__ctx_renew_begin(ctx, &arena, false, carry__id_next()));
    carry__ctx_unref(ctx);
    carry__ctx_renew_end(ctx, false);
    carry__store_free_arena(arena);
    cr_assert_eq(atomic_load(&ctx->refs), 0, "only the thread's reference is left");
    uint64_t live = carry__ctx_live();
    carry__ctx_unref_local(ctx);
    cr_assert_eq(carry__ctx_live(), live - 1, "the context died");
}
