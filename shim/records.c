/* Rule L: the records of library callbacks (records.h). */
#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "pool.h"
#include "records.h"

struct carry__cbtable carry__records;

/* A free record links through its arg, which it does not use then. */
static struct carry__pool carry__record_pool =
    CARRY__POOL_INIT(struct carry__record, cb.arg, 64, NULL, true, "library callback records");

_Static_assert(CARRY__B_LIBEV == CARRY__B_LIBEVENT + CARRY__CB_LIBEV &&
                   CARRY__B_LIBUV == CARRY__B_LIBEVENT + CARRY__CB_LIBUV,
               "hooks.h's libraries map onto stats.h's boundaries");

static unsigned carry__library(unsigned flags)
{
    return flags & CARRY__CB_LIBRARY;
}

/* A record (re)bound to an object that may not be an async, or not sent
 * yet. */
static void carry__record_not_sent(struct carry__record *r)
{
    atomic_store_explicit(&r->async, false, memory_order_relaxed);
    atomic_store_explicit(&r->mixed, false, memory_order_relaxed);
    atomic_store_explicit(&r->sends, 0, memory_order_relaxed);
}

/* A record from the pool, holding nothing. */
static struct carry__record *carry__record_take(void)
{
    struct carry__record *r = carry__pool_take(&carry__record_pool);
    if (r != NULL) {
        r->cb = (struct carry__cb){0};
        r->fd = -1;
        r->persist = r->timer = false;
        carry__record_not_sent(r);
    }
    return r;
}

/*
 * A libuv request's record, where libuv leaves room for it, is kept in the
 * request itself, in the last word of its reserved[6]: libuv 1.x on Unix
 * never touches those (read through 1.52; a later version, or another
 * major, keeps its requests' records in the table as the other objects
 * do).  A request has no record before it is submitted (libuv runs one
 * submission of a request at a time), so none is looked for: the record
 * is made, its address written there, read back by the request's
 * callbacks, and cleared at its last, before the program has the request
 * back.  It is in no table.
 */
#define CARRY__UV_SLOTS_MINOR_MAX 52

enum { CARRY__UV_SLOTS_UNKNOWN, CARRY__UV_SLOTS_YES, CARRY__UV_SLOTS_NO };
static _Atomic int carry__uv_slots;

/* Decided at the first request's submission, before any request's
 * callback can ask; threads that race decide alike. */
static __attribute__((noinline)) bool carry__uv_slots_decide(void)
{
    int saved_errno = errno;
    unsigned (*version)(void) = (unsigned (*)(void))dlsym(RTLD_NEXT, "uv_version");
    unsigned v = version != NULL ? version() : 0;
    errno = saved_errno;
    bool yes = v >> 16 == 1 && (v >> 8 & 0xff) <= CARRY__UV_SLOTS_MINOR_MAX;
    atomic_store_explicit(&carry__uv_slots, yes ? CARRY__UV_SLOTS_YES : CARRY__UV_SLOTS_NO,
                          memory_order_release);
    return yes;
}

static inline bool carry__uv_slots_on(void)
{
    int slots = atomic_load_explicit(&carry__uv_slots, memory_order_acquire);
    return CARRY__LIKELY(slots != CARRY__UV_SLOTS_UNKNOWN) ? slots == CARRY__UV_SLOTS_YES
                                                           : carry__uv_slots_decide();
}

/* Where req keeps its record (libuv hands a request from the loop to a
 * pool thread and back under its own locks). */
static inline void **carry__uv_slot(const void *req)
{
    return &((struct carry__uv_req_head *)req)->reserved[5];
}

static inline void carry__uv_slot_put(const void *req, struct carry__record *r)
{
    __atomic_store_n(carry__uv_slot(req), r, __ATOMIC_RELAXED);
    if (carry__counting())
        carry__stats_raise(&carry__stats.uv_requests_max,
                           atomic_fetch_add_explicit(&carry__stats.uv_requests, 1,
                                                     memory_order_relaxed) + 1);
}

static inline struct carry__record *carry__uv_slot_take(const void *req)
{
    struct carry__record *r = __atomic_load_n(carry__uv_slot(req), __ATOMIC_RELAXED);
    __atomic_store_n(carry__uv_slot(req), NULL, __ATOMIC_RELAXED);
    if (carry__counting() && r != NULL)
        atomic_fetch_sub_explicit(&carry__stats.uv_requests, 1, memory_order_relaxed);
    return r;
}

/* req's record at its submission: a new one in its word, but with no
 * callbacks (cbs NULL), where libuv submits the request through its own
 * API (its uv_write calls uv_write2 through the PLT) within the program's
 * call, which made the record.  Apart: handles' starts need none of it. */
static __attribute__((noinline)) struct carry__record *
carry__uv_request_record(const void *req, const struct carry__cb *cbs)
{
    if (cbs == NULL)
        return __atomic_load_n(carry__uv_slot(req), __ATOMIC_RELAXED);
    struct carry__record *r = carry__record_take();
    if (r != NULL)
        carry__uv_slot_put(req, r);
    return r;
}

struct carry__record *carry__record_of(const void *obj, bool fresh)
{
    struct carry__record *r = fresh ? NULL : carry__record_find(obj);
    if (r != NULL)
        return r;
    r = carry__record_take();
    if (r == NULL)
        return NULL;
    struct carry__cbtable_entry *e = carry__cbtable_put(&carry__records, obj, &r->entry);
    if (e == &r->entry)
        return r;
    carry__pool_give(&carry__record_pool, r);
    if (e == NULL) /* no room in the table: obj runs with no context */
        carry__count(&carry__stats.lost_to_memory);
    return carry__record_entry(e);
}

/* Where a library's own code lives (its executable segment), found from
 * its loop function, the next definition after libcarry's wrapper.  A
 * call into the library's API made from there is the library's own: libuv
 * re-arms and stops its timers, libev stops a one-shot timer before it
 * runs it, and libuv's internal handles' callbacks (the thread pool's
 * completion async, fs_poll's timer) live there; carry leaves those
 * alone, so they cost nothing and count as nothing in CARRY_STATS.
 * Locating is idempotent: threads that race compute the same range. */
struct carry__text {
    const char *loop;
    _Atomic uintptr_t start, size;
    _Atomic bool located;
};

static struct carry__text carry__texts[CARRY__CB_LIBRARY] = {
    [CARRY__CB_LIBEV] = {.loop = "ev_run"},
    [CARRY__CB_LIBUV] = {.loop = "uv_run"},
};

struct carry__text_search {
    uintptr_t fn, start, size;
};

static int carry__find_text(struct dl_phdr_info *info, size_t size, void *p)
{
    (void)size;
    struct carry__text_search *search = p;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && search->fn - start < ph->p_memsz) {
            search->start = start;
            search->size = ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

static __attribute__((noinline)) void carry__text_locate(struct carry__text *text)
{
    int saved_errno = errno;
    struct carry__text_search search = {0};
    if (text->loop != NULL && (search.fn = (uintptr_t)dlsym(RTLD_NEXT, text->loop)) != 0)
        dl_iterate_phdr(carry__find_text, &search);
    errno = saved_errno;
    atomic_store_explicit(&text->start, search.start, memory_order_relaxed);
    atomic_store_explicit(&text->size, search.size, memory_order_relaxed);
    atomic_store_explicit(&text->located, true, memory_order_release);
}

bool carry__library_code(unsigned library, const void *code)
{
    struct carry__text *text = &carry__texts[library];
    if (!atomic_load_explicit(&text->located, memory_order_acquire))
        carry__text_locate(text);
    return (uintptr_t)code - atomic_load_explicit(&text->start, memory_order_relaxed) <
           atomic_load_explicit(&text->size, memory_order_relaxed);
}

/* _dl_find_object takes no lock: dl_iterate_phdr's, which fork does not
 * reset, would hang a child whose parent forked while another thread
 * walked the objects; and pipe is async-signal-safe. */
bool carry__libuv_object(const void *code)
{
    struct dl_find_object found;
    if (_dl_find_object((void *)code, &found) != 0 || found.dlfo_link_map == NULL ||
        found.dlfo_link_map->l_name == NULL)
        return false;
    const char *name = found.dlfo_link_map->l_name;
    const char *base = strrchr(name, '/');
    base = base != NULL ? base + 1 : name;
    return strncmp(base, "libuv.so", strlen("libuv.so")) == 0;
}

/* obj's record, holding cbs (NULL: the callbacks it has) and what flags
 * say, or NULL when carry leaves obj alone; in_request: obj is a libuv
 * request that keeps its record in itself.  A record keeps the callbacks
 * other calls gave it: libevent's finalizer (carry__record_finalizing) and
 * uv_close's callback (carry__record_closing). */
__attribute__((always_inline)) static inline struct carry__record *
carry__record_bind(const void *obj, const struct carry__cb *cbs, int fd, unsigned flags,
                   bool in_request)
{
    bool uv = carry__library(flags) == CARRY__CB_LIBUV;
    if (cbs != NULL && uv && carry__library_code(CARRY__CB_LIBUV, (const void *)cbs->fn))
        return NULL;
    struct carry__record *r = in_request ? carry__uv_request_record(obj, cbs)
                                         : carry__record_of(obj, flags & CARRY__CB_REQUEST);
    if (r == NULL)
        return NULL;
    if (cbs != NULL) {
        r->cb.fn = cbs->fn;
        if (uv)
            r->cb.alloc = cbs->alloc; /* or after_work: the same field */
        else
            r->cb.arg = cbs->arg;
    }
    r->fd = fd;
    r->boundary = (uint8_t)(CARRY__B_LIBEVENT + carry__library(flags));
    r->persist = flags & CARRY__CB_PERSIST;
    r->timer = flags & CARRY__CB_TIMER;
    if (CARRY__UNLIKELY(atomic_load_explicit(&r->async, memory_order_relaxed)))
        carry__record_not_sent(r);
    return r;
}

/* A re-assigned event or re-initialised handle starts afresh. */
struct carry__record *carry__record_assign(const void *obj, const struct carry__cb *cbs, int fd,
                                           unsigned flags)
{
    struct carry__record *r = carry__record_bind(obj, cbs, fd, flags, false);
    if (r != NULL)
        carry__record_drop(r);
    return r;
}

/*
 * A libev watcher or libuv handle keeps its context from its start to its
 * stop (carry__record_stop) or uv_close; a libuv request runs once (its
 * record goes when it does), uv_queue_work's twice (the work, then the
 * after-work callback).
 */
static __attribute__((noinline)) struct carry__record *
carry__record_bind_request(const void *req, const struct carry__cb *cbs, int fd, unsigned flags)
{
    return carry__record_bind(req, cbs, fd, flags, true);
}

struct carry__record *carry__record_start(const void *obj, const struct carry__cb *cbs, int fd,
                                          unsigned flags, const void *caller)
{
    struct carry__record *r = (flags & CARRY__CB_REQUEST) && carry__uv_slots_on()
                                  ? carry__record_bind_request(obj, cbs, fd, flags)
                                  : carry__record_bind(obj, cbs, fd, flags, false);
    if (r != NULL)
        carry__record_schedule(r, caller);
    return r;
}

/* A stop by the application: the watcher's callback runs no more until
 * its next start, so its context goes now (the record stays, keyed by the
 * watcher, which the application may start again: a pool of watchers
 * reused across connections keeps no connection's context alive).  A stop
 * by the library itself precedes one last run (libev stops a one-shot
 * timer or periodic, or a watcher on a bad fd, just before it invokes it;
 * libuv stops every timer that fires and re-starts a repeating one): that
 * run takes the context with it, unless the library re-starts the
 * watcher first. */
void carry__record_stop(const void *obj, unsigned library, const void *caller)
{
    struct carry__record *r = obj != NULL ? carry__record_find(obj) : NULL;
    if (r == NULL)
        return;
    if (carry__library_code(library, caller))
        r->persist = false;
    else
        carry__record_drop(r);
}

/* uv_close (which uv_tcp_close_reset calls through the PLT): the close
 * callback runs in the context current here.  The handle's own callbacks
 * stay: libuv may still call one during the dispatch that closed it (a udp
 * handle's last recvmmsg callback, which frees the buffer).  Its fd is
 * closed before the close callback runs, and its number may be another
 * connection's by then: the record watches no fd any more. */
bool carry__record_closing(const void *obj, void (*close)(void))
{
    if (close != NULL && carry__library_code(CARRY__CB_LIBUV, (const void *)close))
        return false;
    struct carry__record *r =
        close != NULL ? carry__record_of(obj, false) : carry__record_find(obj);
    if (r == NULL)
        return false;
    r->cb.close = close;
    r->fd = -1;
    r->boundary = CARRY__B_LIBUV;
    carry__record_capture(r);
    return true;
}

/* libevent runs a finalizer on one event of a group, chosen inside
 * libevent, so every member's record learns it. */
bool carry__record_finalizing(void *const *objs, int n, void (*finalize)(void))
{
    for (int i = 0; i < n; i++) {
        struct carry__record *r = carry__record_of(objs[i], false);
        if (r == NULL)
            return false;
        r->cb.finalize = finalize;
        carry__record_drop(r);
    }
    return true;
}

struct carry__record *carry__record_once(const struct carry__cb *cbs, int fd, unsigned flags)
{
    struct carry__record *r = carry__record_take();
    if (r == NULL)
        return NULL;
    r->cb = *cbs;
    r->fd = fd;
    r->boundary = (uint8_t)(CARRY__B_LIBEVENT + carry__library(flags));
    carry__record_capture(r);
    return r;
}

/*
 * A program that drains a queue of its own from an async's callback (bind9's
 * named hands every connection's send completions and teardowns to its
 * worker's loop that way) runs the jobs of every send merged into that run:
 * the context of the last send would tag the other senders' work, so a run
 * of sends from different contexts gets none.  The first send of a run
 * keeps its context; a later one from another context marks the run
 * mixed.  Sends racing with the run itself may count for either run.
 */
void carry__record_send(struct carry__record *r)
{
    carry_ctx *current = carry__current();
    carry__count_capture(r->boundary, current);
    atomic_store_explicit(&r->async, true, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&r->sends, 1, memory_order_acq_rel) == 0) {
        if (atomic_load_explicit(&r->ctx, memory_order_relaxed) != current)
            carry__slot_store(&r->ctx, current);
    } else if (atomic_load_explicit(&r->ctx, memory_order_acquire) != current) {
        atomic_store_explicit(&r->mixed, true, memory_order_relaxed);
    }
}

/* The run takes the context of its sends along, as a thread reference. */
carry_ctx *carry__record_context_async(struct carry__record *r)
{
    atomic_store_explicit(&r->sends, 0, memory_order_release);
    carry_ctx *ctx =
        carry__ctx_localize(atomic_exchange_explicit(&r->ctx, NULL, memory_order_acq_rel));
    if (atomic_exchange_explicit(&r->mixed, false, memory_order_acq_rel) && ctx != NULL) {
        carry__ctx_unref_local(ctx);
        ctx = NULL;
    }
    carry__count_dispatch(r->boundary, ctx);
    return ctx;
}

void carry__record_drop(struct carry__record *r)
{
    if (atomic_load_explicit(&r->ctx, memory_order_relaxed) != NULL)
        carry__slot_store(&r->ctx, NULL);
}

/* The context is released outside the table's lock (it may go back to
 * the context pool, which has a lock of its own). */
static void carry__record_free(struct carry__record *r)
{
    carry__record_drop(r);
    carry__pool_give(&carry__record_pool, r);
}

void carry__record_forget(const void *obj)
{
    struct carry__record *r =
        carry__record_entry(carry__cbtable_remove(&carry__records, obj, NULL));
    if (r != NULL)
        carry__record_free(r);
}

struct carry__record *carry__record_of_request(const void *req)
{
    return carry__uv_slots_on() ? __atomic_load_n(carry__uv_slot(req), __ATOMIC_RELAXED)
                                : carry__record_find(req);
}

void carry__record_forget_request(const void *req)
{
    if (!carry__uv_slots_on()) {
        carry__record_forget(req);
        return;
    }
    struct carry__record *r = carry__uv_slot_take(req);
    if (r != NULL)
        carry__record_free(r);
}

void carry__record_detach(const void *obj, struct carry__record *r)
{
    carry__cbtable_remove(&carry__records, obj, &r->entry);
}

void carry__record_release(struct carry__record *r)
{
    const void *obj = carry__cbtable_key(&r->entry);
    if (obj != NULL)
        carry__record_forget(obj);
    else
        carry__record_free(r);
}

/* The context the last callback of r runs in, r's callbacks copied to
 * *copy: the captured reference passes to the run, unless the fd's owner
 * is the context (then the record's end lets go of it). */
static inline carry_ctx *carry__record_last(struct carry__record *r, struct carry__cb *copy)
{
    *copy = r->cb;
    carry__slot *owner = r->fd >= 0 ? carry__fd_slot_or(r->fd, NULL) : NULL;
    carry_ctx *ctx = owner != NULL ? carry__slot_take_local(owner)
                                   : carry__ctx_localize(atomic_exchange_explicit(
                                         &r->ctx, NULL, memory_order_acq_rel));
    carry__count_dispatch(r->boundary, ctx);
    return ctx;
}

carry_ctx *carry__record_enter_last(struct carry__record *r, struct carry__cb *copy)
{
    carry_ctx *ctx = carry__record_last(r, copy);
    carry__record_release(r);
    return carry__scope_enter(ctx);
}

carry_ctx *carry__record_enter_last_of(const void *obj, struct carry__cb *copy)
{
    struct carry__record *r =
        carry__record_entry(carry__cbtable_remove(&carry__records, obj, NULL));
    carry_ctx *ctx = carry__record_last(r, copy);
    carry__record_free(r);
    return carry__scope_enter(ctx);
}

carry_ctx *carry__record_enter_last_request(const void *req, struct carry__cb *copy)
{
    if (!carry__uv_slots_on())
        return carry__record_enter_last_of(req, copy);
    /* In no table: its release frees it. */
    return carry__record_enter_last(carry__uv_slot_take(req), copy);
}

/* libuv accepted the connection just before, so its new context is
 * current (rule C): the callback runs in it, and the thread leaves it
 * when the callback returns, as at any dispatch.  The thread's reference
 * passes to the scope. */
carry_ctx *carry__record_enter_accepted(struct carry__record *r)
{
    carry_ctx *accepted = carry__self.current;
    if (accepted == NULL)
        return carry__record_enter(r);
    carry__current_set(&carry__self, NULL);
    return carry__record_enter_in(r, accepted);
}

carry_ctx *carry__record_enter_in(struct carry__record *r, carry_ctx *ctx)
{
    carry__count_dispatch(r->boundary, ctx);
    return carry__scope_enter(ctx);
}

void carry__records_counts(size_t *alive, size_t *peak)
{
    carry__cbtable_counts(&carry__records, alive, peak);
}

void carry__records_atfork_prepare(void)
{
    carry__cbtable_atfork_prepare(&carry__records);
}

void carry__records_atfork_release(void)
{
    carry__cbtable_atfork_release(&carry__records);
}
