/*
 * A ring of epoll events (carry's tokens), grown by doubling; the cap is a
 * power of two.  Growing allocates outside any lock: see ring.c.
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
bool carry__ring_reserve(struct carry__ring *ring, uint32_t n, struct epoll_event **spare,
                         uint32_t spare_cap);

/* The capacity a ring needs for n events. */
uint32_t carry__ring_cap_for(uint32_t n);

/* Appends n events; call after carry__ring_reserve said there is room. */
void carry__ring_push(struct carry__ring *ring, const struct epoll_event *events, uint32_t n);

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
