/* Rule L: records of the callbacks the application gave a library (records.c). */
#ifndef CARRY_RECORDS_H
#define CARRY_RECORDS_H

#include "common.h"
#include "context.h"
#include "current.h"
#include "stats.h"

/* A callback the application gave a library, with what rule L needs. */
struct carry__cb {
    const void *key;          /* the library object it belongs to */
    void (*fn)(void);         /* the application's callback */
    void (*fn2)(void);        /* a second callback: libevent's finalizer, libuv's
                               * alloc_cb or work_cb */
    void *arg;                /* its argument (libevent); the free list's link */
    _Atomic(carry_ctx *) ctx; /* captured when the work was scheduled */
    int fd;                   /* watched fd (rule C), or -1 */
    bool persist;             /* stays scheduled after it runs */
    uint8_t boundary;         /* the library, for CARRY_STATS */
};

/* key's record (created if create), or NULL (out of memory: pass the
 * callback through unchanged). */
struct carry__cb *carry__cb_of(const void *key, bool create);
void carry__cb_forget(const void *key);

/* Records in the table now and at most (CARRY_STATS). */
void carry__cb_counts(size_t *alive, size_t *peak);

/* The work was scheduled: capture the current context. */
void carry__cb_capture(struct carry__cb *cb);

/* The work was unscheduled: let go of the captured context. */
void carry__cb_drop(struct carry__cb *cb);

/* The context the callback runs in, as a reference for carry__scope_enter:
 * what its fd owns, else what was captured. */
carry_ctx *carry__cb_context(struct carry__cb *cb, int fd);

/* The table is held across fork, so that the child never sees it
 * half-changed (lookups would wait for ever). */
void carry__cbs_atfork_prepare(void);
void carry__cbs_atfork_release(void);

#endif /* CARRY_RECORDS_H */
