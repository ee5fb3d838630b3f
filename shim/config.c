/*
 * The CARRY_* environment variables.  A bad value never stops the host: it
 * gets one line on stderr naming the variable and what it takes, and the
 * default is used.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct carry__config carry__config = {
    .mode = CARRY__MODE_EVENTS,
    .epoll_batch = true,
    .debug = 0,
    .inherit = true,
    .crash = true,
    .active = true,
};

struct carry__name {
    const char *name;
    unsigned bits;
};

static const struct carry__name carry__modes[] = {
    {"off", 0},
    {"threads", CARRY__THREADS},
    {"events", CARRY__MODE_EVENTS},
    {"all", CARRY__MODE_ALL},
    {"epoll", CARRY__EPOLL},
    {"accept", CARRY__ACCEPT},
    {"loops", CARRY__LOOPS},
    {"dataflow", CARRY__DATAFLOW},
};

/* Calls fn for each comma-separated item of list (empty items skipped);
 * stops and returns false as soon as fn does. */
static bool carry__each_item(const char *list, bool (*fn)(const char *item, size_t len, void *arg),
                             void *arg)
{
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len > 0 && !fn(p, len, arg))
            return false;
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

static bool carry__add_mode(const char *item, size_t len, void *arg)
{
    unsigned *mode = arg;
    for (size_t i = 0; i < sizeof carry__modes / sizeof carry__modes[0]; i++) {
        if (strlen(carry__modes[i].name) == len && memcmp(carry__modes[i].name, item, len) == 0) {
            *mode |= carry__modes[i].bits;
            return true;
        }
    }
    return false;
}

static unsigned carry__parse_mode(const char *value)
{
    unsigned mode = 0;
    if (value[strspn(value, ",")] != '\0' && carry__each_item(value, carry__add_mode, &mode))
        return mode;
    carry__warn("CARRY_MODE=%s is invalid: it takes off, threads, events, all, or a comma list "
                "of threads,epoll,accept,loops,dataflow; using events",
                value);
    return CARRY__MODE_EVENTS;
}

/* A whole decimal number in [min, max], else fallback with a warning. */
static int carry__parse_int(const char *name, const char *value, int min, int max, int fallback)
{
    char *end;
    long n = strtol(value, &end, 10);
    if (end != value && *end == '\0' && n >= min && n <= max)
        return (int)n;
    carry__warn("%s=%s is invalid: it takes a number from %d to %d; using %d", name, value, min,
                max, fallback);
    return fallback;
}

struct carry__program_match {
    const char *program;
    bool found;
};

static bool carry__match_program(const char *item, size_t len, void *arg)
{
    struct carry__program_match *m = arg;
    if (strlen(m->program) == len && memcmp(m->program, item, len) == 0)
        m->found = true;
    return !m->found;
}

static bool carry__program_listed(const char *list, const char *program)
{
    struct carry__program_match m = {program, false};
    carry__each_item(list, carry__match_program, &m);
    return m.found;
}

void carry__config_parse(struct carry__config *out, carry__getenv_fn *getenv_fn,
                         const char *program)
{
    const char *value;
    out->mode = CARRY__MODE_EVENTS;
    out->debug = 0;
    out->inherit = true;
    out->crash = true;
    out->active = true;
    /* batch by default: split's extra returns cost a loop like redis's
     * more than 1 % (see README, Servers). */
    out->epoll_batch = true;

    if ((value = getenv_fn("CARRY_MODE")) != NULL)
        out->mode = carry__parse_mode(value);
    if ((value = getenv_fn("CARRY_DEBUG")) != NULL)
        out->debug = carry__parse_int("CARRY_DEBUG", value, 0, 3, 0);
    if ((value = getenv_fn("CARRY_EPOLL")) != NULL) {
        if (strcmp(value, "batch") == 0 || strcmp(value, "split") == 0)
            out->epoll_batch = strcmp(value, "batch") == 0;
        else
            carry__warn("CARRY_EPOLL=%s is invalid: it takes batch or split; using batch", value);
    }
    if ((value = getenv_fn("CARRY_INHERIT")) != NULL)
        out->inherit = carry__parse_int("CARRY_INHERIT", value, 0, 1, 1) == 1;
    if ((value = getenv_fn("CARRY_CRASH")) != NULL)
        out->crash = carry__parse_int("CARRY_CRASH", value, 0, 1, 1) == 1;

    /* Named by the contract, implemented by later work: say so rather than
     * ignore them silently. */
    static const char *const pending[] = {"CARRY_TAG", "CARRY_STATS"};
    for (size_t i = 0; i < sizeof pending / sizeof pending[0]; i++)
        if (getenv_fn(pending[i]) != NULL)
            carry__warn("%s is not implemented in this version of libcarry; ignored", pending[i]);

    if (program == NULL)
        program = "";
    if ((value = getenv_fn("CARRY_ONLY")) != NULL && *value != '\0' &&
        !carry__program_listed(value, program))
        out->active = false;
    if ((value = getenv_fn("CARRY_SKIP")) != NULL && carry__program_listed(value, program))
        out->active = false;
}
