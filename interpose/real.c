/*
 * Binding of the real functions.  dlsym may allocate and take the loader's
 * lock, but calls nothing libcarry wraps, so binding cannot recurse into a
 * wrapper.  Only the required symbols are bound up front: a dlsym that
 * fails allocates its error message, and the first wrapped call can come
 * from inside an allocator's own lock (jemalloc's initialisation reads
 * files).  An optional symbol is looked up at its wrapper's first call,
 * which only happens once some object defines it, so that dlsym succeeds.
 */
#include <dlfcn.h>
#include <stdlib.h>

#include "real.h"

struct carry__real_table carry__real;

static void *carry__lookup(const char *name, const char *version)
{
    void *fn = version ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
    if (fn == NULL) {
        carry__warn("cannot find the real %s (%s); giving up", name, dlerror());
        abort();
    }
    return fn;
}

static void carry__real_bind_once(void)
{
#define CARRY__REAL_BIND(name, ret, params, version, required) \
    if (required) \
        __atomic_store_n(&carry__real.name, \
                         (ret(*) params)carry__lookup(#name, version), \
                         __ATOMIC_RELAXED);
    CARRY__REAL_SYMBOLS(CARRY__REAL_BIND)
#undef CARRY__REAL_BIND
}

/* Once, so that no thread reads an entry while another still writes it. */
void carry__real_bind(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, carry__real_bind_once);
}

/* At load time at the latest: otherwise a wrapper's first call could bind
 * the table from a signal handler, where dlsym (the loader's lock) is not
 * safe. */
__attribute__((constructor)) static void carry__real_bind_at_load(void)
{
    carry__real_bind();
}

void *carry__real_late(void **entry, const char *name)
{
    carry__real_bind();
    void *fn = __atomic_load_n(entry, __ATOMIC_RELAXED);
    if (fn == NULL) {
        int saved_errno = errno;
        fn = dlsym(RTLD_NEXT, name);
        errno = saved_errno;
        if (fn != NULL)
            __atomic_store_n(entry, fn, __ATOMIC_RELAXED);
    }
    return fn;
}
