/*
 * The next definitions of the functions libcarry wraps, in one table bound
 * lazily by dlsym(RTLD_NEXT) or, for versioned symbols, dlvsym.  A wrapper
 * calls CARRY__REAL(name)(args...).
 */
#ifndef CARRY_REAL_H
#define CARRY_REAL_H

#include <pthread.h>
#include <spawn.h>
#include <sys/types.h>

#include "../shim/internal.h"

/* X(name, return type, parameter list, symbol version or NULL) */
#define CARRY__REAL_SYMBOLS(X) \
    X(pthread_create, int, \
      (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *), NULL) \
    X(execve, int, (const char *, char *const[], char *const[]), NULL) \
    X(execvpe, int, (const char *, char *const[], char *const[]), NULL) \
    X(posix_spawn, int, \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, \
       const posix_spawnattr_t *, char *const[], char *const[]), NULL) \
    X(posix_spawnp, int, \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, \
       const posix_spawnattr_t *, char *const[], char *const[]), NULL)

struct carry__real_table {
#define CARRY__REAL_FIELD(name, ret, params, version) ret(*name) params;
    CARRY__REAL_SYMBOLS(CARRY__REAL_FIELD)
#undef CARRY__REAL_FIELD
};

extern struct carry__real_table carry__real;

/* Binds every entry; aborts with a message if one cannot be found, since a
 * wrapper without its real function cannot do what the program asked. */
void carry__real_bind(void);

#define CARRY__REAL(name) \
    (CARRY__LIKELY(__atomic_load_n(&carry__real.name, __ATOMIC_ACQUIRE) != NULL) \
         ? carry__real.name \
         : (carry__real_bind(), carry__real.name))

#endif /* CARRY_REAL_H */
