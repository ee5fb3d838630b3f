/*
 * The words the I/O wrappers load on their fast paths (hooks.h): a
 * thread-local one, the number of the epoll batch (CARRY_EPOLL=batch, two
 * events or more) the thread's last wait returned, set until its next
 * wait, during which I/O on the batch's fds switches contexts (epoll.c);
 * and a process-wide one of the reasons every I/O matters (init.c;
 * hooks.c adds BORROWED, REQUESTS and DATAGRAMS).
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
};

extern __thread uint64_t carry__io_batch __attribute__((tls_model("initial-exec")));
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
