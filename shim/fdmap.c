/* File descriptor maps (fdmap.h). */
#include <stdlib.h>

#include "fdmap.h"

void *carry__fdmap_ensure_page(struct carry__fdmap *map, int fd)
{
    if (fd < 0 || fd >= CARRY__FDMAP_LIMIT)
        return NULL;
    int saved_errno = errno;
    char *page = calloc(CARRY__FDMAP_PAGE, map->entry_size);
    errno = saved_errno;
    if (page == NULL)
        return NULL;
    char *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&map->pages[fd / CARRY__FDMAP_PAGE], &expected,
                                                 page, memory_order_acq_rel,
                                                 memory_order_acquire))
        free(page); /* Another thread published this page first. */
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
