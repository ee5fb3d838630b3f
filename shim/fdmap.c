/*
 * File descriptor maps (fdmap.h).
 *
 * The range is mapped MAP_NORESERVE: address space only, 32 MiB for a map
 * of 32-byte entries, of which the kernel commits a page of memory when an
 * entry on it is first written.  So the maps cost what a program's fds
 * use, never fail once reserved, and a connection past the last page used
 * costs a page fault, not an allocation.  The whole range is reserved
 * rather than the fd limit of the moment because programs raise their
 * limit after start-up (memcached -c, redis maxclients, nginx
 * worker_rlimit_nofile).
 */
#include <string.h>
#include <sys/mman.h>

#include "fdmap.h"
#include "log.h"
#include "stats.h"

char carry__fdmap_none[1];

bool carry__fdmap_reserve(struct carry__fdmap *map)
{
    char *base = atomic_load_explicit(&map->base, memory_order_acquire);
    if (base == NULL) {
        size_t size = (size_t)CARRY__FDMAP_LIMIT * map->entry_size;
        int saved_errno = errno;
        char *range = mmap(NULL, size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (range == MAP_FAILED) {
            range = carry__fdmap_none;
            carry__warn("out of address space for an fd map (%s): carrying on without contexts "
                        "where it is needed",
                        strerror(errno));
        }
        if (atomic_compare_exchange_strong_explicit(&map->base, &base, range,
                                                    memory_order_acq_rel, memory_order_acquire))
            base = range;
        else if (range != carry__fdmap_none)
            munmap(range, size); /* another thread reserved this map first */
        errno = saved_errno;
    }
    if (base == carry__fdmap_none)
        return false;
    /* Every thread that gets here publishes the same address, before it
     * uses the map, so that a peek never misses an entry it wrote. */
    atomic_store_explicit(&map->flat, base, memory_order_release);
    return true;
}

void *carry__fdmap_ensure_page(struct carry__fdmap *map, int fd)
{
    if (!carry__fdmap_in_range(fd))
        return NULL;
    if (!carry__fdmap_reserve(map)) {
        carry__count(&carry__stats.lost_to_memory);
        return NULL;
    }
    size_t p = (size_t)fd / CARRY__FDMAP_PAGE;
    char *base = atomic_load_explicit(&map->base, memory_order_acquire);
    /* Every thread that gets here publishes the same address. */
    atomic_store_explicit(&map->pages[p], base + p * CARRY__FDMAP_PAGE * map->entry_size,
                          memory_order_release);
    return carry__fdmap_get(map, fd);
}

void carry__fdmap_each(struct carry__fdmap *map, void (*fn)(int fd, void *entry, void *arg),
                       void *arg)
{
    for (int p = 0; p < CARRY__FDMAP_PAGES; p++) {
        char *page = atomic_load_explicit(&map->pages[p], memory_order_acquire);
        for (int i = 0; page != NULL && i < CARRY__FDMAP_PAGE; i++)
            fn(p * CARRY__FDMAP_PAGE + i, page + (size_t)i * map->entry_size, arg);
    }
}
