/*
 * A map from file descriptor numbers to fixed-size entries (fdmap.c): a
 * fixed table of pages over one range of address space, reserved once for
 * every fd the map can hold and committed by the kernel page by page as
 * entries are first written.  Lookups are two loads and take no lock;
 * pages are never given back, so an entry's address is stable for the
 * life of the map; no entry ever costs a malloc.
 */
#ifndef CARRY_FDMAP_H
#define CARRY_FDMAP_H

#include "common.h"


#define CARRY__FDMAP_PAGE 1024
#define CARRY__FDMAP_PAGES 1024
#define CARRY__FDMAP_LIMIT (CARRY__FDMAP_PAGE * CARRY__FDMAP_PAGES) /* fds tracked */

struct carry__fdmap {
    size_t entry_size;
    /* CARRY__FDMAP_LIMIT entries of address space; NULL until the map is
     * first used, carry__fdmap_none when it could not be reserved. */
    _Atomic(char *) base;
    /* The same range once reserved, NULL before and when it could not be:
     * what carry__fdmap_peek reads. */
    _Atomic(char *) flat;
    _Atomic(char *) pages[CARRY__FDMAP_PAGES];
};

extern char carry__fdmap_none[];

static inline bool carry__fdmap_in_range(int fd)
{
    return (unsigned)fd < CARRY__FDMAP_LIMIT;
}

/* The entry of fd, or NULL when its page was never used or fd is out of
 * range (carry then leaves that fd alone). */
static inline void *carry__fdmap_get(struct carry__fdmap *map, int fd)
{
    if (!carry__fdmap_in_range(fd))
        return NULL;
    char *page = atomic_load_explicit(&map->pages[fd / CARRY__FDMAP_PAGE], memory_order_acquire);
    return page ? page + (size_t)(fd % CARRY__FDMAP_PAGE) * map->entry_size : NULL;
}

/* The entry of fd, which is in range, in flat, a map's range (see
 * carry__fdmap_peek): for a caller that keeps the range.  Never
 * NULL, which the compiler is told, so that a caller's check of an entry
 * it may not have found is not made again here. */
static inline void *carry__fdmap_at(char *flat, int fd, size_t size)
{
    char *entry = flat + (size_t)(unsigned)fd * size;
    if (entry == NULL)
        __builtin_unreachable();
    return entry;
}

/* The entry of fd for a hot path, in one load: the range is readable from
 * its reservation on, and an entry never written reads as zeros (the
 * kernel's zero page), so a caller takes an all-zero entry as no entry.
 * NULL when fd is out of range or the map has no range.  size is the
 * entry's, a constant where this is inlined. */
static inline void *carry__fdmap_peek(struct carry__fdmap *map, int fd, size_t size)
{
    char *flat = atomic_load_explicit(&map->flat, memory_order_acquire);
    return flat != NULL && carry__fdmap_in_range(fd) ? carry__fdmap_at(flat, fd, size) : NULL;
}

/* Reserves the map's address space, if that was not done: true when the
 * map has it.  The attempt is made once: a map that could not be reserved
 * stays without entries, so that what it tracks is decided once for the
 * life of the process (and counted as lost to memory each time an entry
 * is wanted). */
bool carry__fdmap_reserve(struct carry__fdmap *map);

void *carry__fdmap_ensure_page(struct carry__fdmap *map, int fd);

/* The entry of fd, zeroed when first used; NULL when fd is out of range
 * or the map has no address space.  The first use of a page is out of
 * line, so that the common case stays a look-up. */
static inline void *carry__fdmap_ensure(struct carry__fdmap *map, int fd)
{
    void *entry = carry__fdmap_get(map, fd);
    return CARRY__LIKELY(entry != NULL) ? entry : carry__fdmap_ensure_page(map, fd);
}

/* Calls fn on every entry of every page used. */
void carry__fdmap_each(struct carry__fdmap *map, void (*fn)(int fd, void *entry, void *arg),
                       void *arg);

#endif /* CARRY_FDMAP_H */
