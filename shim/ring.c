/* Rings of epoll events (ring.h). */
#include "ring.h"

bool carry__ring_reserve(struct carry__ring *ring, uint32_t n, struct epoll_event **spare,
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

uint32_t carry__ring_cap_for(uint32_t n)
{
    uint32_t cap = 64;
    while (cap < n)
        cap *= 2;
    return cap;
}

void carry__ring_push(struct carry__ring *ring, const struct epoll_event *events, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ring->slots[(ring->head + ring->count + i) & (ring->cap - 1)] = events[i];
    ring->count += n;
}
