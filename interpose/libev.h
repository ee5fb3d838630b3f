/*
 * libev 4's ABI, as far as carry's wrappers need it: declared here rather
 * than taken from its headers, so that libcarry builds without them
 * (Debian's build: every watcher starts with int active, pending,
 * priority; void *data; then the callback; an ev_io's fd follows the list
 * link).
 */
#ifndef CARRY_LIBEV_H
#define CARRY_LIBEV_H

struct ev_loop;
typedef void carry__ev_once_cb(int revents, void *arg);

struct carry__ev_watcher {
    int active, pending, priority;
    void *data;
    carry__ev_cb *cb;
    void *next;
    int fd; /* ev_io only */
};

/* The watcher kinds, each with its ev_<kind>_start and ev_<kind>_stop. */
#define CARRY__EV_WATCHER_KINDS(X) \
    X(io) X(timer) X(periodic) X(signal) X(child) X(stat) X(idle) X(prepare) X(check) \
    X(embed) X(fork) X(cleanup) X(async)

#endif /* CARRY_LIBEV_H */
