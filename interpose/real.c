/*
 * Binding of the real functions.  dlsym may allocate and take the loader's
 * lock, but calls nothing libcarry wraps, so binding cannot recurse into a
 * wrapper.  Threads racing to bind store the same pointers.
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

void carry__real_bind(void)
{
#define CARRY__REAL_BIND(name, ret, params, version) \
    __atomic_store_n(&carry__real.name, (ret(*) params)carry__lookup(#name, version), \
                     __ATOMIC_RELEASE);
    CARRY__REAL_SYMBOLS(CARRY__REAL_BIND)
#undef CARRY__REAL_BIND
}
