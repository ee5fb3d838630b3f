/*
 * Processes: vfork, and the exec and spawn functions that take an explicit
 * environment: with CARRY_INHERIT=0 they get it without libcarry (see
 * shim/inherit.c).  The filtered copy lives on the stack, so these stay
 * safe in a child that shares its parent's memory.
 */
#include <string.h>

#include "real.h"

#define CARRY__PRELOAD_MAX 4096

/* Evaluates call with env bound to envp, filtered when CARRY_INHERIT=0. */
#define CARRY__WITH_ENV(envp, env, call) \
    do { \
        if (!carry__hook_exec_strip()) { \
            char *const *env = (envp); \
            return call; \
        } \
        char *carry__out[carry__hook_exec_env_count(envp) + 1]; \
        char carry__buf[CARRY__PRELOAD_MAX]; \
        char *const *env = carry__hook_exec_env((envp), carry__out, \
                                                    sizeof carry__out / sizeof carry__out[0], \
                                                    carry__buf, sizeof carry__buf); \
        return call; \
    } while (0)

CARRY__EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    CARRY__WITH_ENV(envp, env, CARRY__REAL(execve)(path, argv, env));
}

CARRY__EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    CARRY__WITH_ENV(envp, env, CARRY__REAL(execvpe)(file, argv, env));
}

CARRY__EXPORT int posix_spawn(pid_t *pid, const char *path,
                              const posix_spawn_file_actions_t *actions,
                              const posix_spawnattr_t *attr, char *const argv[],
                              char *const envp[])
{
    CARRY__WITH_ENV(envp, env, CARRY__REAL(posix_spawn)(pid, path, actions, attr, argv, env));
}

CARRY__EXPORT int posix_spawnp(pid_t *pid, const char *file,
                               const posix_spawn_file_actions_t *actions,
                               const posix_spawnattr_t *attr, char *const argv[],
                               char *const envp[])
{
    CARRY__WITH_ENV(envp, env, CARRY__REAL(posix_spawnp)(pid, file, actions, attr, argv, env));
}

/*
 * vfork's child shares its parent's memory: carry's wrappers in it (close
 * before exec, above all) would change the parent's tables, ending its
 * connections' ownership and dropping their events.  A wrapper cannot
 * return twice through its own frame either.  So vfork is fork here: POSIX
 * lets a vfork child only exec or _exit, for which the two are the same.
 */
CARRY__EXPORT pid_t vfork(void)
{
    return fork();
}
