/*
 * A ring of epoll events (carry's tokens), grown by doubling; the cap is a
 * power of two.  The caller allocates the bigger buffer, outside any lock
 * it holds, and frees the old one.
 */
#ifndef CARRY_RING_H
#define CARRY_RING_H

#include <sys/epoll.h>

#include "common.h"

struct carry__ring {
    struct epoll_event *slots;
    uint32_t head, count, cap;
};


/* Makes room for n more events, moving the ring into *spare (spare_cap
 * slots) if it must grow; *spare is then the old buffer, for the caller to
 * free.  False when *spare is too small. */
static inline bool carry__ring_reserve(struct carry__ring *ring, uint32_t n, struct epoll_event **spare,
                         uint32_t spare_cap)
{
    if (ring->count + n <= ring->cap)
        return true;
    if (*spare == NULL || spare_cap < ring->count + n)
        return false;
    for (uint32_t i = 0; i < ring->count; i++)
        (*spare)[i] = ring->slots[(ring->head + i) & (ring->cap - 1)];
    struct epoll_event *old = ring->slots;
    ring->slots = *spare;
    ring->cap = spare_cap;
    ring->head = 0;
    *spare = old;
    return true;
}

/* The capacity a ring needs for n events. */
static inline uint32_t carry__ring_cap_for(uint32_t n)
{
    uint32_t cap = 64;
    while (cap < n)
        cap *= 2;
    return cap;
}

/* Appends n events; call after carry__ring_reserve said there is room. */
static inline void carry__ring_push(struct carry__ring *ring, const struct epoll_event *events, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ring->slots[(ring->head + ring->count + i) & (ring->cap - 1)] = events[i];
    ring->count += n;
}

/* Takes the oldest event into *out; false when empty. */
static inline bool carry__ring_pop(struct carry__ring *ring, struct epoll_event *out)
{
    if (ring->count == 0)
        return false;
    *out = ring->slots[ring->head];
    ring->head = (ring->head + 1) & (ring->cap - 1);
    ring->count--;
    return true;
}

static inline void carry__ring_clear(struct carry__ring *ring)
{
    ring->count = 0;
    ring->head = 0;
}

#endif /* CARRY_RING_H */
