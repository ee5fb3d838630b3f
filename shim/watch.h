/*
 * The words the I/O wrappers load on their fast paths (hooks.h): a
 * thread-local one, the number of the epoll batch (CARRY_EPOLL=batch, two
 * events or more) the thread's last wait returned, set until its next
 * wait, during which I/O on the batch's fds switches contexts (epoll.c);
 * and a process-wide one of the reasons every I/O matters (init.c;
 * hooks.c adds BORROWED, REQUESTS, DATAGRAMS, CHANNELS and INJECT).
 */
#ifndef CARRY_WATCH_H
#define CARRY_WATCH_H

#include "common.h"

enum {
    CARRY__WATCH_START = 1u << 0,    /* carry has not started: a write starts it */
    CARRY__WATCH_STATS = 1u << 1,    /* CARRY_STATS counts mismatches */
    CARRY__WATCH_BORROWED = 1u << 2, /* an fd was connected: writes move it */
    CARRY__WATCH_TAG = 1u << 3,      /* CARRY_TAG tags stdout or stderr */
    CARRY__WATCH_REQUESTS = 1u << 4, /* a connection was accepted: reads may begin requests */
    CARRY__WATCH_DATAGRAMS = 1u << 5, /* a datagram socket was made: receives may begin requests */
    CARRY__WATCH_CHANNELS = 1u << 6, /* a pipe, eventfd or socketpair was made: hand-offs (rule H) */
    CARRY__WATCH_INJECT = 1u << 7,   /* CARRY_TRACE=inject and a stream was connected (rule W) */
};

extern __thread uint64_t carry__io_batch __attribute__((tls_model("initial-exec")));

/* Its top bit: a read of a hand-off channel took several writers' contexts
 * at once (chan.c); until the thread's next wait, I/O on an fd that one of
 * them owns switches to it, as an epoll batch does. */
#define CARRY__IO_HANDOFF (UINT64_C(1) << 63)
extern _Atomic unsigned carry__io_watch;

/* The same for stdio, dprintf and syslog (tag.c), apart so that syslog's
 * tagging does not send every write down the slow path. */
enum {
    CARRY__LINES_START = 1u << 0,  /* carry has not started: the entry point starts it */
    CARRY__LINES_STD = 1u << 1,    /* stdout or stderr is tagged: streams and dprintf */
    CARRY__LINES_SYSLOG = 1u << 2, /* syslog is tagged */
};

extern _Atomic unsigned carry__lines_watch;

#endif /* CARRY_WATCH_H */
