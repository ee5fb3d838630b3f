/*
 * A map from file descriptor numbers to fixed-size entries (fdmap.c): a
 * fixed table of pages allocated on first use.  Lookups are two loads and
 * take no lock; pages are never freed, so an entry's address is stable for
 * the life of the map.
 */
#ifndef CARRY_FDMAP_H
#define CARRY_FDMAP_H

#include "common.h"


#define CARRY__FDMAP_PAGE 1024
#define CARRY__FDMAP_PAGES 1024
#define CARRY__FDMAP_LIMIT (CARRY__FDMAP_PAGE * CARRY__FDMAP_PAGES) /* fds tracked */

struct carry__fdmap {
    size_t entry_size;
    _Atomic(char *) pages[CARRY__FDMAP_PAGES];
};

/* The entry of fd, or NULL when its page was never used or fd is out of
 * range (carry then leaves that fd alone). */
static inline void *carry__fdmap_get(struct carry__fdmap *map, int fd)
{
    if ((unsigned)fd >= CARRY__FDMAP_LIMIT)
        return NULL;
    char *page = atomic_load_explicit(&map->pages[fd / CARRY__FDMAP_PAGE], memory_order_acquire);
    return page ? page + (size_t)(fd % CARRY__FDMAP_PAGE) * map->entry_size : NULL;
}

void *carry__fdmap_ensure_page(struct carry__fdmap *map, int fd);

/* The entry of fd, allocating its (zeroed) page; NULL when out of memory or
 * range.  The allocation is out of line, so that the common case stays a
 * look-up. */
static inline void *carry__fdmap_ensure(struct carry__fdmap *map, int fd)
{
    void *entry = carry__fdmap_get(map, fd);
    return CARRY__LIKELY(entry != NULL) ? entry : carry__fdmap_ensure_page(map, fd);
}

/* Calls fn on every entry of every allocated page. */
void carry__fdmap_each(struct carry__fdmap *map, void (*fn)(int fd, void *entry, void *arg),
                       void *arg);

#endif /* CARRY_FDMAP_H */
