/*
 * libevent 2.1's ABI, as far as carry's wrappers need it: declared here
 * rather than taken from its headers, so that libcarry builds without
 * them.
 */
#ifndef CARRY_LIBEVENT_H
#define CARRY_LIBEVENT_H

#include <stdint.h>

struct event;
struct event_base;
/* Finalizers and deferred callbacks take the event (or libevent's internal
 * event_callback, whose address is the event's) and an argument. */
typedef void carry__levent_finalize_cb(void *evcb, void *arg);

#define CARRY__EV_SIGNAL 0x08
#define CARRY__EV_PERSIST 0x10

/* A struct event begins with its struct event_callback: two list links,
 * flags, priority and closure, then the callback and its argument. */
struct carry__levent_head {
    void *next, *prev;
    short flags;
    uint8_t priority, closure;
    carry__levent_cb *callback;
    void *arg;
};

#endif /* CARRY_LIBEVENT_H */
