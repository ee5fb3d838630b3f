/*
 * Start-up and fork handling.  Wrappers may run before this library's
 * constructor (other libraries' constructors create threads too), so every
 * entry point calls carry__ensure_init() and the first caller does the work.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

_Atomic int carry__initialised;
static pthread_once_t carry__init_once_control = PTHREAD_ONCE_INIT;

static void carry__atfork_prepare(void)
{
    carry__cbs_atfork_prepare();
    carry__ctx_atfork_prepare();
}

static void carry__atfork_parent(void)
{
    carry__ctx_atfork_parent();
    carry__cbs_atfork_release();
}

/* The child keeps the forking thread's context (its thread-local state is
 * the child's now); other threads' locks are taken over, see lock.c. */
static void carry__atfork_child(void)
{
    atomic_fetch_add(&carry__fork_generation, 2);
    carry__ctx_atfork_child();
    carry__cbs_atfork_release();
    carry__stats_atfork_child();
    carry__ep_atfork_child();
}

static const char *carry__secure_getenv(const char *name)
{
    /* Never read the environment of a set-user-ID program. */
    return secure_getenv(name);
}

static void carry__init_once(void)
{
    carry__config_parse(&carry__config, carry__secure_getenv, program_invocation_short_name);
    if (carry__config.active) {
        pthread_atfork(carry__atfork_prepare, carry__atfork_parent, carry__atfork_child);
        if (!carry__config.inherit)
            carry__inherit_init();
        carry__stats_init(carry__config.stats);
    }
    carry__debug(1, "active=%d mode=%#x inherit=%d in %s", carry__config.active,
                 carry__config.mode, carry__config.inherit, program_invocation_short_name);
    atomic_store_explicit(&carry__initialised, 1, memory_order_release);
}

void carry__init(void)
{
    pthread_once(&carry__init_once_control, carry__init_once);
}

__attribute__((constructor)) static void carry__constructor(void)
{
    carry__init();
}
