/*
 * The state carry keeps per thread, in initial-exec TLS (no allocation, no
 * lock on first access).  Each field belongs to the module named beside
 * it; this header only lays them out, without holes: every new thread's
 * TLS is cleared, so its size costs every pthread_create.
 */
#ifndef CARRY_SELF_H
#define CARRY_SELF_H

#include "common.h"
#include "ring.h"

struct carry__owner;
struct carry__ep;

struct carry__thread {
    carry_ctx *current;          /* current.c: holds a thread reference */
    struct carry__owner *owner;  /* context.c: as the owner of contexts, or NULL */
    uint64_t id_next, id_limit;  /* context.c: this thread's block of ids */
    struct carry__ep *batch_ep;  /* epoll.c: whose batch it is */
    struct carry__ep *queue_ep;  /* epoll.c: whose queued events they are */
    struct carry__ring queue;    /* epoll.c, split mode: the rest of the batch */
    carry_ctx *nested_in;        /* epoll.c: the handler a nested wait runs in; a thread reference */
    uintptr_t nested_depth;      /* epoll.c: the stack depth of the wait that dispatched it */
    uintptr_t wait_depth;        /* epoll.c: the stack depth of the thread's last wait */
    uint64_t nested_batch;       /* epoll.c: the batch the handler was in (carry__io_batch) */
    struct carry__ep *nested_batch_ep; /* epoll.c: and whose it was */
    struct carry__ep *plain_ep;  /* epoll.c: the state of plain_epfd's epoll fd */
    unsigned plain_epfd;         /* epoll.c: an epoll fd plain waits are on, plus 1 (0: none) */
    uint32_t plain_epoch;        /* epoll.c: carry__ep_epoch when plain_ep was found */
    unsigned in_loop;            /* hooks.c: depth of event-library loops running */
    bool finished;               /* current.c: ended; it owns no more contexts */
    bool exit_hook;              /* current.c: thread-exit release armed */
    uint8_t plain_way;           /* epoll.c: which way plain waits take */
};

extern __thread struct carry__thread carry__self __attribute__((tls_model("initial-exec")));

#endif /* CARRY_SELF_H */
