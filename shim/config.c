/*
 * The CARRY_* environment variables.  A bad value never stops the host: it
 * gets one line on stderr naming the variable and what it takes, and the
 * default is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

struct carry__config carry__config = {
    .mode = CARRY__MODE_EVENTS,
    .epoll_batch = true,
    .debug = 0,
    .inherit = true,
    .crash = true,
    .active = true,
    .tag = 0,
    .trace = CARRY__TRACE_ADOPT,
};

struct carry__name {
    const char *name;
    unsigned bits;
};

static const struct carry__name carry__modes[] = {
    {"off", 0},
    {"threads", CARRY__RULE_THREADS},
    {"events", CARRY__MODE_EVENTS},
    {"all", CARRY__MODE_ALL},
    {"epoll", CARRY__RULE_EPOLL},
    {"accept", CARRY__RULE_ACCEPT},
    {"requests", CARRY__RULE_REQUESTS},
    {"channels", CARRY__RULE_CHANNELS},
    {"loops", CARRY__RULE_LOOPS},
    {"dataflow", CARRY__RULE_DATAFLOW},
};

/*
 * Calls fn for each comma-separated item of list, empty ones included (a
 * leading, trailing or doubled comma makes one; an empty list has none);
 * stops and returns false as soon as fn does.  No name is empty, so an
 * empty item is an invalid one: each variable treats it as it treats any
 * invalid item.
 */
static bool carry__each_item(const char *list, bool (*fn)(const char *item, size_t len, void *arg),
                             void *arg)
{
    if (*list == '\0')
        return true;
    for (const char *p = list;; p++) {
        size_t len = strcspn(p, ",");
        if (!fn(p, len, arg))
            return false;
        p += len;
        if (*p == '\0')
            return true;
    }
}

/* How a warning names the empty items it ignores. */
static const char *carry__empty_items(unsigned n)
{
    return n == 0 ? "" : n == 1 ? "an empty item" : "empty items";
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
    if (*value != '\0' && carry__each_item(value, carry__add_mode, &mode))
        return mode;
    carry__warn("CARRY_MODE=%s is invalid: it takes off, threads, events, all, or a comma list "
                "of threads,epoll,accept,requests,loops,channels,dataflow; using events",
                value);
    return CARRY__MODE_EVENTS;
}

static const struct carry__name carry__tags[] = {
    {"off", 0},
    {"stdout", CARRY__TAG_STDOUT},
    {"stderr", CARRY__TAG_STDERR},
    {"syslog", CARRY__TAG_SYSLOG},
};

struct carry__tag_parse {
    unsigned bits;
    char unknown[128]; /* the names not recognised, comma-separated */
    unsigned empty;    /* empty items */
};

static bool carry__add_tag(const char *item, size_t len, void *arg)
{
    struct carry__tag_parse *t = arg;
    if (len == 0) {
        t->empty++;
        return true;
    }
    for (size_t i = 0; i < sizeof carry__tags / sizeof carry__tags[0]; i++) {
        if (strlen(carry__tags[i].name) == len && memcmp(carry__tags[i].name, item, len) == 0) {
            t->bits |= carry__tags[i].bits;
            return true;
        }
    }
    size_t used = strlen(t->unknown), room = sizeof t->unknown - used;
    snprintf(t->unknown + used, room, "%s%.*s", used ? "," : "", (int)len, item);
    return true;
}

/* Unlike CARRY_MODE, a bad item does not reject the list: the outputs the
 * user did name correctly are still tagged (tagging too little would hide
 * exactly the lines they asked for). */
static unsigned carry__parse_tag(const char *value)
{
    struct carry__tag_parse t = {0, "", 0};
    carry__each_item(value, carry__add_tag, &t);
    if (t.unknown[0] != '\0' || t.empty > 0) {
        char applied[32] = "";
        for (size_t i = 1; i < sizeof carry__tags / sizeof carry__tags[0]; i++)
            if (t.bits & carry__tags[i].bits)
                snprintf(applied + strlen(applied), sizeof applied - strlen(applied), "%s%s",
                         applied[0] ? "," : "", carry__tags[i].name);
        carry__warn("CARRY_TAG=%s is invalid: it takes off, or a comma list of "
                    "stdout,stderr,syslog; ignoring %s%s%s, tagging %s",
                    value, t.unknown, t.unknown[0] != '\0' && t.empty > 0 ? " and " : "",
                    carry__empty_items(t.empty), applied[0] ? applied : "nothing");
    }
    return t.bits;
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
    unsigned names, empty;
};

static bool carry__match_program(const char *item, size_t len, void *arg)
{
    struct carry__program_match *m = arg;
    if (len == 0) {
        m->empty++;
        return true;
    }
    m->names++;
    if (strlen(m->program) == len && memcmp(m->program, item, len) == 0)
        m->found = true;
    return true;
}

/* Whether CARRY_ONLY or CARRY_SKIP (name) lists program.  An empty item
 * names no program: it is ignored, with a warning, and the names given
 * still apply (falling back to the default, unset, would turn carry on in
 * the very programs the list keeps it out of). */
static struct carry__program_match carry__program_list(const char *name, const char *list,
                                                       const char *program)
{
    struct carry__program_match m = {program, false, 0, 0};
    carry__each_item(list, carry__match_program, &m);
    if (m.empty > 0)
        carry__warn("%s=%s is invalid: it takes a comma list of program names; ignoring %s", name,
                    list, carry__empty_items(m.empty));
    return m;
}

/* The index in names[0..n) of variable's value; names[0], the default,
 * when it is unset or (with a warning) none of them. */
static unsigned carry__parse_choice(carry__getenv_fn *getenv_fn, const char *variable,
                                    const char *const *names, unsigned n)
{
    const char *value = getenv_fn(variable);
    if (value == NULL)
        return 0;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0)
            return i;
    char list[64] = "";
    for (unsigned i = 0, at = 0; i < n; i++)
        at += (unsigned)snprintf(list + at, sizeof list - at, "%s%s", names[i],
                                 i + 2 < n ? ", " : i + 1 < n ? " or " : "");
    carry__warn("%s=%s is invalid: it takes %s; using %s", variable, value, list, names[0]);
    return 0;
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
    out->tag = 0;
    out->trace = CARRY__TRACE_ADOPT;
    out->tag_otel = false;

    if ((value = getenv_fn("CARRY_MODE")) != NULL)
        out->mode = carry__parse_mode(value);
    /* CARRY_SCOPE=connection: one context per connection, as rule C alone
     * gives (rule R off). */
    static const char *const scopes[] = {"request", "connection"};
    if (carry__parse_choice(getenv_fn, "CARRY_SCOPE", scopes, 2) == 1)
        out->mode &= ~(unsigned)CARRY__RULE_REQUESTS;
    if ((value = getenv_fn("CARRY_DEBUG")) != NULL)
        out->debug = carry__parse_int("CARRY_DEBUG", value, 0, 3, 0);
    static const char *const epolls[] = {"batch", "split"};
    out->epoll_batch = carry__parse_choice(getenv_fn, "CARRY_EPOLL", epolls, 2) == 0;
    static const char *const traces[] = {"adopt", "off", "inject"};
    out->trace = (enum carry__trace_mode)carry__parse_choice(getenv_fn, "CARRY_TRACE", traces, 3);
    static const char *const formats[] = {"id", "otel"};
    out->tag_otel = carry__parse_choice(getenv_fn, "CARRY_TAG_FORMAT", formats, 2) == 1;
    if ((value = getenv_fn("CARRY_INHERIT")) != NULL)
        out->inherit = carry__parse_int("CARRY_INHERIT", value, 0, 1, 1) == 1;
    out->stats = getenv_fn("CARRY_STATS");

    if ((value = getenv_fn("CARRY_TAG")) != NULL)
        out->tag = carry__parse_tag(value);
    if ((value = getenv_fn("CARRY_CRASH")) != NULL)
        out->crash = carry__parse_int("CARRY_CRASH", value, 0, 1, 1) == 1;

    if (program == NULL)
        program = "";
    /* A CARRY_ONLY that names no program (empty) is as unset. */
    struct carry__program_match m;
    if ((value = getenv_fn("CARRY_ONLY")) != NULL &&
        (m = carry__program_list("CARRY_ONLY", value, program)).names > 0 && !m.found)
        out->active = false;
    if ((value = getenv_fn("CARRY_SKIP")) != NULL &&
        carry__program_list("CARRY_SKIP", value, program).found)
        out->active = false;
    if (!out->active)
        out->tag = 0;
}
