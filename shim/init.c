/*
 * Start-up and fork handling.  The first entry point that runs (see
 * init.h) parses the configuration and starts what the configuration asks
 * for; the constructor makes sure that happens at load time at the latest,
 * and starts crash reports, which only it does (see crash.h).
 */
#include <pthread.h>
#include <stdlib.h>

#include "chan.h"
#include "config.h"
#include "context.h"
#include "crash.h"
#include "epoll.h"
#include "export.h"
#include "inherit.h"
#include "init.h"
#include "lock.h"
#include "log.h"
#include "pool.h"
#include "procctx.h"
#include "records.h"
#include "report.h"
#include "tag.h"
#include "watch.h"

_Atomic int carry__initialised;
_Atomic unsigned carry__rules;
_Atomic unsigned carry__rare;
_Atomic unsigned carry__io_watch = CARRY__WATCH_START;
static pthread_once_t carry__init_once_control = PTHREAD_ONCE_INIT;

/* How many locks carry__atfork_prepare took: they are not counted in
 * carry__locks_held meanwhile, since the program's own fork handlers run
 * while carry holds them, and may write to a channel (no signal handler
 * interrupted carry there). */
static __thread unsigned carry__fork_locks __attribute__((tls_model("initial-exec")));

/* Locks whose data must be whole in the child are held across fork, in
 * this order. */
static void carry__atfork_prepare(void)
{
    unsigned before = carry__locks_held;
    carry__chan_atfork_prepare();
    carry__records_atfork_prepare();
    carry__ctx_atfork_prepare();
    carry__pools_atfork_prepare();
    carry__fork_locks = carry__locks_held - before;
    carry__locks_held = before;
}

static void carry__atfork_parent(void)
{
    carry__locks_held += carry__fork_locks;
    carry__pools_atfork_release();
    carry__ctx_atfork_parent();
    carry__records_atfork_release();
    carry__chan_atfork_parent();
}

/* The child keeps the forking thread's context (its thread-local state is
 * the child's now); other threads' locks are taken over, see lock.c. */
static void carry__atfork_child(void)
{
    carry__locks_held += carry__fork_locks;
    atomic_fetch_add(&carry__fork_generation, 2);
    carry__pools_atfork_release();
    carry__ctx_atfork_child();
    carry__records_atfork_release();
    carry__report_atfork_child();
    carry__ep_atfork_child();
    carry__chan_atfork_child();
    carry__export_atfork_child();
    carry__procctx_atfork_child();
}

static const char *carry__secure_getenv(const char *name)
{
    /* Never read the environment of a set-user-ID program. */
    return secure_getenv(name);
}

static void carry__init_once(void)
{
    carry__config_parse(&carry__config, carry__secure_getenv, program_invocation_short_name);
    carry__debug_level = carry__config.debug;
    unsigned watch = 0;
    if (carry__config.active) {
        pthread_atfork(carry__atfork_prepare, carry__atfork_parent, carry__atfork_child);
        carry__resource_parse(&carry__resource, carry__secure_getenv,
                              program_invocation_short_name);
        carry__procctx_start(&carry__resource);
        if (!carry__config.inherit)
            carry__inherit_init();
        if (carry__report_start(carry__config.stats))
            watch |= CARRY__WATCH_STATS;
        if (carry__config.tag & CARRY__TAG_FDS)
            watch |= CARRY__WATCH_TAG;
        /* After the report: its flush at exit runs first, so the report
         * counts what it sent. */
        carry__export_init(carry__secure_getenv);
        /* After the export's: the spans of requests still alive are
         * queued before its flush. */
        if (carry__export_on() && atexit(carry__current_spans_at_exit) != 0)
            carry__warn("export: cannot register the spans at exit");
    }
    atomic_fetch_and(&carry__io_watch, ~(unsigned)CARRY__WATCH_START);
    atomic_fetch_or(&carry__io_watch, watch);
    carry__tag_start();
    carry__debug(1, "active=%d mode=%#x inherit=%d in %s", carry__config.active,
                 carry__config.mode, carry__config.inherit, program_invocation_short_name);
    atomic_store_explicit(&carry__rare,
                          (carry__counting() ? CARRY__RARE_STATS : 0) |
                              (carry__export_on() ? CARRY__RARE_EXPORT : 0) |
                              (carry__debug_level >= 3 ? CARRY__RARE_DEBUG : 0),
                          memory_order_relaxed);
    atomic_store_explicit(&carry__rules, carry__config.active ? carry__config.mode : 0,
                          memory_order_release);
    atomic_store_explicit(&carry__initialised, 1, memory_order_release);
}

/* A rule that is off, or carry not started yet. */
bool carry__on_slow(unsigned rule)
{
    carry__ensure_init();
    return (atomic_load_explicit(&carry__rules, memory_order_acquire) & rule) != 0;
}

/* Leaves errno as the program left it: whichever entry point starts carry,
 * the program's call must see its own errno (a write that succeeds, %m). */
void carry__init(void)
{
    int saved_errno = errno;
    pthread_once(&carry__init_once_control, carry__init_once);
    errno = saved_errno;
}

__attribute__((constructor)) static void carry__constructor(void)
{
    carry__init();
    carry__crash_start();
}
