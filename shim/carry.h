/*
 * carry.h - continuation-local storage for C servers, header-only API.
 *
 * Include this header and call the functions below.  Nothing needs to be
 * linked: the first call looks up libcarry's entry point at run time.  When
 * the program runs without libcarry (no LD_PRELOAD=libcarry.so, or carry is
 * passive for this program through CARRY_ONLY / CARRY_SKIP) every function
 * degrades to a cheap no-op:
 *
 *   carry_available() 0, carry_id() 0, carry_get() NULL,
 *   carry_set() / carry_unset() / carry_enter() / carry_traceparent() -1
 *   with errno ENOSYS,
 *   carry_capture() / carry_begin() NULL, carry_release() nothing,
 *   carry_run(ctx, fn, arg) calls fn(arg) and returns its result.
 *
 * Errors (functions returning int give -1 and set errno; the others leave
 * errno alone unless stated):
 *
 *   EINVAL        key NULL or empty, value NULL, buffer NULL.
 *   ENAMETOOLONG  key longer than CARRY_KEY_MAX bytes.
 *   E2BIG         value longer than CARRY_VALUE_MAX bytes.
 *   ESRCH         no current context (carry_set, carry_unset,
 *                 carry_traceparent).
 *   ENOENT        carry_unset of a key that is not set.
 *   ENOMEM        carry ran out of memory; nothing was changed.
 *   ENOSYS        libcarry is not loaded.
 *
 * The context model: a context has a non-zero 64-bit id and a store of
 * string keys to string values shared by every continuation of the request.
 * Each thread has a current context, possibly none.  libcarry carries the
 * current context across threads, epoll dispatch and event-loop callbacks
 * (CARRY_MODE picks which); this API reads it, writes its store and moves it
 * explicitly where no interposer can see the hand-off (custom job queues).
 *
 * Requires a platform with dlsym() in libc (glibc 2.34 or later, musl); on
 * older glibc link with -ldl.  Compiles as C99 or later and as C++.
 */
#ifndef CARRY_H
#define CARRY_H

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest key, in bytes, not counting the terminating NUL. */
#define CARRY_KEY_MAX 255
/* Longest value, in bytes, not counting the terminating NUL. */
#define CARRY_VALUE_MAX 65536

/* A reference to a context.  Opaque; obtained from carry_capture() or
 * carry_begin() and given back with carry_release(). */
typedef struct carry_ctx carry_ctx;

/*
 * The function table libcarry exports.  Its first field is its size, so a
 * header may use a newer field only when the library it found is new enough
 * (see CARRY__HAS).  Fields are only ever appended.
 */
struct carry_api {
    size_t size;
    uint64_t (*id)(void);
    const char *(*get)(const char *key);
    int (*set)(const char *key, const char *value);
    int (*unset)(const char *key);
    carry_ctx *(*capture)(void);
    void (*release)(carry_ctx *ctx);
    void *(*run)(carry_ctx *ctx, void *(*fn)(void *), void *arg);
    carry_ctx *(*begin)(void);
    int (*enter)(carry_ctx *ctx);
    uint64_t (*ctx_id)(const carry_ctx *ctx);
    int (*traceparent)(char *buf);
};

/* libcarry's entry point: returns its table, or NULL when carry is passive
 * in this program.  The name carries the table's major version. */
#define CARRY_ENTRY_POINT "carry_api_v1"

#define CARRY__HAS(api, field) \
    ((api)->size >= offsetof(struct carry_api, field) + sizeof((api)->field))

/* The table used when libcarry is absent: every entry a no-op. */
static inline uint64_t carry__none_id(void) { return 0; }
static inline const char *carry__none_get(const char *key) { (void)key; return NULL; }
static inline int carry__none_set(const char *key, const char *value)
{
    (void)key; (void)value;
    errno = ENOSYS;
    return -1;
}
static inline int carry__none_unset(const char *key) { return carry__none_set(key, NULL); }
static inline carry_ctx *carry__none_capture(void) { return NULL; }
static inline void carry__none_release(carry_ctx *ctx) { (void)ctx; }
static inline void *carry__none_run(carry_ctx *ctx, void *(*fn)(void *), void *arg)
{
    (void)ctx;
    return fn ? fn(arg) : NULL;
}
static inline int carry__none_enter(carry_ctx *ctx) { (void)ctx; return carry__none_set(NULL, NULL); }
static inline uint64_t carry__none_ctx_id(const carry_ctx *ctx) { (void)ctx; return 0; }
static inline int carry__none_traceparent(char *buf) { (void)buf; return carry__none_set(NULL, NULL); }

static const struct carry_api carry__none_api = {
    sizeof(struct carry_api),
    carry__none_id,
    carry__none_get,
    carry__none_set,
    carry__none_unset,
    carry__none_capture,
    carry__none_release,
    carry__none_run,
    carry__none_capture,
    carry__none_enter,
    carry__none_ctx_id,
    carry__none_traceparent,
};

/* Looks libcarry up once per translation unit.  Racing first calls from
 * several threads each find the same answer, so the store is idempotent. */
static inline const struct carry_api *carry__resolve(void)
{
    static const struct carry_api *cached;
    const struct carry_api *api = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (__builtin_expect(api != NULL, 1))
        return api;
    int saved_errno = errno;
    union {
        void *object;
        const struct carry_api *(*entry)(void);
    } sym;
    /* RTLD_DEFAULT is ((void *)0) in glibc and musl; naming it would need
     * _GNU_SOURCE before every other include of the user's file. */
    sym.object = dlsym((void *)0, CARRY_ENTRY_POINT);
    api = sym.object ? sym.entry() : NULL;
    /* A library older than this header lacks fields we call: treat it as
     * absent rather than call past the end of its table. */
    if (api == NULL || !CARRY__HAS(api, ctx_id))
        api = &carry__none_api;
    __atomic_store_n(&cached, api, __ATOMIC_RELEASE);
    errno = saved_errno;
    return api;
}

/* 1 when libcarry is loaded and active in this program, else 0. */
static inline int carry_available(void)
{
    return carry__resolve() != &carry__none_api;
}

/* The current context's id, or 0 when the thread has no current context. */
static inline uint64_t carry_id(void)
{
    return carry__resolve()->id();
}

/*
 * The value of key in the current context's store, or NULL when the key is
 * not set, there is no current context, or key is NULL.  Never blocks.  The
 * returned string stays valid while the context lives, even if another
 * thread replaces or unsets the key meanwhile.
 */
static inline const char *carry_get(const char *key)
{
    return carry__resolve()->get(key);
}

/*
 * Sets key to a copy of value in the current context's store, where every
 * continuation of the context sees it.  Returns 0, or -1 with errno EINVAL,
 * ENAMETOOLONG, E2BIG, ESRCH, ENOMEM or ENOSYS (see the top of this file).
 * Setting a key to the value it already holds changes nothing.
 */
static inline int carry_set(const char *key, const char *value)
{
    return carry__resolve()->set(key, value);
}

/* Removes key from the current context's store.  Returns 0, or -1 with
 * errno EINVAL, ENAMETOOLONG, ESRCH, ENOENT or ENOSYS. */
static inline int carry_unset(const char *key)
{
    return carry__resolve()->unset(key);
}

/*
 * A new reference to the current context, or NULL when there is none.  Take
 * one where a job is queued and hand it to carry_run() where the job runs;
 * give it back with carry_release().
 */
static inline carry_ctx *carry_capture(void)
{
    return carry__resolve()->capture();
}

/*
 * Gives back a reference from carry_capture() or carry_begin().  NULL is
 * ignored.  Releasing a reference twice is a bug in the caller: carry
 * detects it while the context's other references keep it alive, prints a
 * warning and ignores the call (CARRY_DEBUG=3 aborts instead).  Using a
 * reference after its context has died is undefined, as with free().
 */
static inline void carry_release(carry_ctx *ctx)
{
    carry__resolve()->release(ctx);
}

/*
 * Calls fn(arg) with ctx as the current context (NULL: with no context), then
 * restores the context that was current before, and returns what fn
 * returned.  Calls nest.  ctx stays owned by the caller.
 */
static inline void *carry_run(carry_ctx *ctx, void *(*fn)(void *), void *arg)
{
    return carry__resolve()->run(ctx, fn, arg);
}

/*
 * Starts a new context with a fresh id and an empty store, makes it the
 * thread's current context, and returns a reference to it (release it when
 * done with the handle; the thread keeps its own until it leaves the
 * context).  NULL without libcarry or when out of memory (errno ENOMEM).
 */
static inline carry_ctx *carry_begin(void)
{
    return carry__resolve()->begin();
}

/*
 * Makes ctx the thread's current context until the thread reaches its next
 * dispatch point or calls carry_enter() again; NULL leaves the current
 * context.  Prefer carry_run(), which restores the previous context.
 * Returns 0, or -1 with errno ENOSYS.
 */
static inline int carry_enter(carry_ctx *ctx)
{
    return carry__resolve()->enter(ctx);
}

/* The id of a context reference, 0 for NULL. */
static inline uint64_t carry_ctx_id(const carry_ctx *ctx)
{
    return carry__resolve()->ctx_id(ctx);
}

/* Bytes carry_traceparent() writes, with the NUL. */
#define CARRY_TRACEPARENT_SIZE 56

/*
 * Writes the current context as a W3C traceparent header value,
 * "00-<trace-id>-<span-id>-<flags>" and a NUL (55 characters), into buf,
 * which holds CARRY_TRACEPARENT_SIZE bytes: the trace the context belongs to
 * (the one its request adopted, or one carry started), the context's own
 * span-id (its id), and the trace flags.  Pass it on to a service the
 * request calls.  Returns 0, or -1 with errno EINVAL (buf NULL), ESRCH (no
 * current context) or ENOSYS (no libcarry, or one older than this call).
 */
static inline int carry_traceparent(char buf[CARRY_TRACEPARENT_SIZE])
{
    const struct carry_api *api = carry__resolve();
    if (!CARRY__HAS(api, traceparent))
        return carry__none_traceparent(buf);
    return api->traceparent(buf);
}

#ifdef __cplusplus
}
#endif

#endif /* CARRY_H */
