/* Parsing of the CARRY_* variables, with a fake environment. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"

static const char *const *fake_env;
static char warned[4096];
static int warnings;

static const char *fake_getenv(const char *name)
{
    size_t len = strlen(name);
    for (const char *const *e = fake_env; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

static void sink(const char *line, size_t len)
{
    warnings++;
    strncat(warned, line, len < sizeof warned - strlen(warned) - 1 ? len : 0);
}

static struct carry__config parse(const char *const *env, const char *program)
{
    struct carry__config c;
    fake_env = env;
    warned[0] = '\0';
    warnings = 0;
    carry__set_warn_sink(sink);
    carry__config_parse(&c, fake_getenv, program);
    carry__set_warn_sink(NULL);
    return c;
}

Test(config, defaults)
{
    struct carry__config c = parse(NULL, "server");
    cr_assert_eq(c.mode, CARRY__MODE_EVENTS);
    cr_assert_eq(c.debug, 0);
    cr_assert(c.inherit);
    cr_assert(c.active);
    cr_assert(c.epoll_batch);
    cr_assert(c.crash);
    cr_assert_eq(warnings, 0);
}

Test(config, epoll_modes)
{
    const char *split[] = {"CARRY_EPOLL=split", NULL};
    cr_assert_not(parse(split, "x").epoll_batch);
    const char *batch[] = {"CARRY_EPOLL=batch", NULL};
    cr_assert(parse(batch, "x").epoll_batch);
    const char *bad[] = {"CARRY_EPOLL=exact", NULL};
    cr_assert(parse(bad, "x").epoll_batch);
    cr_assert_str_eq(warned, "carry: CARRY_EPOLL=exact is invalid: it takes batch or split; "
                             "using batch\n");
}

Test(config, scopes)
{
    const char *conn[] = {"CARRY_SCOPE=connection", NULL};
    cr_assert_eq(parse(conn, "x").mode, CARRY__MODE_EVENTS & ~(unsigned)CARRY__RULE_REQUESTS);
    const char *req[] = {"CARRY_SCOPE=request", NULL};
    cr_assert_eq(parse(req, "x").mode, CARRY__MODE_EVENTS);
    cr_assert_eq(warnings, 0, "%s", warned);
    const char *bad[] = {"CARRY_SCOPE=thread", NULL};
    cr_assert_eq(parse(bad, "x").mode, CARRY__MODE_EVENTS);
    cr_assert_str_eq(warned, "carry: CARRY_SCOPE=thread is invalid: it takes request or "
                             "connection; using request\n");
}

struct mode_case {
    const char *value;
    unsigned mode;
};

Test(config, modes)
{
    static const struct mode_case cases[] = {
        {"off", 0},
        {"threads", CARRY__RULE_THREADS},
        {"events", CARRY__RULE_THREADS | CARRY__RULE_EPOLL | CARRY__RULE_ACCEPT | CARRY__RULE_LOOPS | CARRY__RULE_REQUESTS | CARRY__RULE_CHANNELS},
        {"all", CARRY__RULE_THREADS | CARRY__RULE_EPOLL | CARRY__RULE_ACCEPT | CARRY__RULE_LOOPS | CARRY__RULE_REQUESTS | CARRY__RULE_CHANNELS | CARRY__RULE_DATAFLOW},
        {"channels,threads", CARRY__RULE_CHANNELS | CARRY__RULE_THREADS},
        {"epoll,accept", CARRY__RULE_EPOLL | CARRY__RULE_ACCEPT},
        {"accept,requests", CARRY__RULE_ACCEPT | CARRY__RULE_REQUESTS},
        {"loops", CARRY__RULE_LOOPS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char assignment[64];
        snprintf(assignment, sizeof assignment, "CARRY_MODE=%s", cases[i].value);
        const char *env[] = {assignment, NULL};
        struct carry__config c = parse(env, "x");
        cr_assert_eq(c.mode, cases[i].mode, "%s", cases[i].value);
        cr_assert_eq(warnings, 0, "%s: %s", cases[i].value, warned);
    }
}

Test(config, bad_values_warn_once_each_and_use_defaults)
{
    const char *env[] = {"CARRY_MODE=Threads", "CARRY_DEBUG=-1", "CARRY_INHERIT=", NULL};
    struct carry__config c = parse(env, "x");
    cr_assert_eq(c.mode, CARRY__MODE_EVENTS);
    cr_assert_eq(c.debug, 0);
    cr_assert(c.inherit);
    cr_assert_eq(warnings, 3, "%s", warned);
    cr_assert_not_null(strstr(warned, "carry: CARRY_MODE=Threads is invalid"));
    cr_assert_not_null(strstr(warned, "carry: CARRY_DEBUG=-1 is invalid"));
    cr_assert_not_null(strstr(warned, "carry: CARRY_INHERIT= is invalid"));
}

Test(config, bad_names_in_a_list_reject_the_whole_list)
{
    const char *env[] = {"CARRY_MODE=threads,epol", NULL};
    struct carry__config c = parse(env, "x");
    cr_assert_eq(c.mode, CARRY__MODE_EVENTS);
    cr_assert_eq(warnings, 1);
}

/* An empty item (leading, trailing or doubled comma) is an invalid item:
 * one warning, and CARRY_MODE falls back to events. */
Test(config, empty_items_reject_a_mode_list)
{
    const char *values[] = {"events,", ",threads", "threads,,dataflow", ",", ",,", "epoll,accept,"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char assignment[64], want[128];
        snprintf(assignment, sizeof assignment, "CARRY_MODE=%s", values[i]);
        snprintf(want, sizeof want, "carry: %s is invalid: it takes off, threads, events, all, ",
                 assignment);
        const char *env[] = {assignment, NULL};
        struct carry__config c = parse(env, "x");
        cr_assert_eq(c.mode, CARRY__MODE_EVENTS, "%s", assignment);
        cr_assert_eq(warnings, 1, "%s: %s", assignment, warned);
        cr_assert_eq(strncmp(warned, want, strlen(want)), 0, "%s", warned);
        cr_assert_not_null(strstr(warned, "; using events\n"), "%s", warned);
    }
}

Test(config, debug_and_inherit)
{
    const char *env[] = {"CARRY_DEBUG=3", "CARRY_INHERIT=0", NULL};
    struct carry__config c = parse(env, "x");
    cr_assert_eq(c.debug, 3);
    cr_assert_not(c.inherit);
    cr_assert_eq(warnings, 0);
}

Test(config, crash)
{
    const char *off[] = {"CARRY_CRASH=0", NULL};
    cr_assert_not(parse(off, "x").crash);
    cr_assert_eq(warnings, 0);
    const char *on[] = {"CARRY_CRASH=1", NULL};
    cr_assert(parse(on, "x").crash);
    const char *bad[] = {"CARRY_CRASH=no", NULL};
    cr_assert(parse(bad, "x").crash);
    cr_assert_str_eq(warned, "carry: CARRY_CRASH=no is invalid: it takes a number from 0 to 1; "
                             "using 1\n");
}

Test(config, only_and_skip)
{
    const char *only[] = {"CARRY_ONLY=redis-server,nginx", NULL};
    cr_assert(parse(only, "nginx").active);
    cr_assert_not(parse(only, "ngin").active);
    cr_assert_not(parse(only, "bash").active);
    const char *skip[] = {"CARRY_SKIP=bash,sh", NULL};
    cr_assert_not(parse(skip, "sh").active);
    cr_assert(parse(skip, "nginx").active);
    const char *both[] = {"CARRY_ONLY=nginx", "CARRY_SKIP=nginx", NULL};
    cr_assert_not(parse(both, "nginx").active);
    cr_assert(parse(skip, NULL).active, "no program name");
    const char *empty[] = {"CARRY_ONLY=", NULL};
    cr_assert(parse(empty, "x").active, "an empty CARRY_ONLY is as unset");
    cr_assert_eq(warnings, 0, "%s", warned);
}

struct list_case {
    const char *assignment;
    const char *program;
    bool active;
    const char *warning;
};

/* An empty item names no program: it is ignored with one warning, and the
 * names given still apply (the default would turn carry on where the list
 * keeps it off). */
Test(config, empty_items_in_only_and_skip_are_ignored)
{
    static const struct list_case cases[] = {
        {"CARRY_ONLY=nginx,", "nginx", true,
         "carry: CARRY_ONLY=nginx, is invalid: it takes a comma list of program names; "
         "ignoring an empty item\n"},
        {"CARRY_ONLY=nginx,", "bash", false, NULL},
        {"CARRY_ONLY=,,nginx", "bash", false,
         "carry: CARRY_ONLY=,,nginx is invalid: it takes a comma list of program names; "
         "ignoring empty items\n"},
        {"CARRY_ONLY=,", "bash", true, NULL}, /* no name: as unset */
        {"CARRY_SKIP=sh,,bash", "bash", false,
         "carry: CARRY_SKIP=sh,,bash is invalid: it takes a comma list of program names; "
         "ignoring an empty item\n"},
        {"CARRY_SKIP=,redis-server", "nginx", true, NULL},
        {"CARRY_SKIP=,", "", true, NULL}, /* an empty name matches no program */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[] = {cases[i].assignment, NULL};
        struct carry__config c = parse(env, cases[i].program);
        cr_assert_eq(c.active, cases[i].active, "%s in %s", cases[i].assignment,
                     cases[i].program);
        cr_assert_eq(warnings, 1, "%s: %s", cases[i].assignment, warned);
        if (cases[i].warning != NULL)
            cr_assert_str_eq(warned, cases[i].warning);
    }
}

struct tag_case {
    const char *value;
    unsigned tag;
    const char *warning; /* NULL: silent */
};

Test(config, tag)
{
    static const struct tag_case cases[] = {
        {"", 0, NULL},
        {"off", 0, NULL},
        {"stderr", CARRY__TAG_STDERR, NULL},
        {"stdout,stderr,syslog", CARRY__TAG_FDS | CARRY__TAG_SYSLOG, NULL},
        {",syslog,,stdout,", CARRY__TAG_SYSLOG | CARRY__TAG_STDOUT,
         "carry: CARRY_TAG=,syslog,,stdout, is invalid: it takes off, or a comma list of "
         "stdout,stderr,syslog; ignoring empty items, tagging stdout,syslog\n"},
        {"stderr,", CARRY__TAG_STDERR,
         "carry: CARRY_TAG=stderr, is invalid: it takes off, or a comma list of "
         "stdout,stderr,syslog; ignoring an empty item, tagging stderr\n"},
        {",", 0,
         "carry: CARRY_TAG=, is invalid: it takes off, or a comma list of "
         "stdout,stderr,syslog; ignoring empty items, tagging nothing\n"},
        {"bogus,,stdout", CARRY__TAG_STDOUT,
         "carry: CARRY_TAG=bogus,,stdout is invalid: it takes off, or a comma list of "
         "stdout,stderr,syslog; ignoring bogus and an empty item, tagging stdout\n"},
        {"stderr,bogus", CARRY__TAG_STDERR,
         "carry: CARRY_TAG=stderr,bogus is invalid: it takes off, or a comma list of "
         "stdout,stderr,syslog; ignoring bogus, tagging stderr\n"},
        {"Stderr,syslog,nope", CARRY__TAG_SYSLOG,
         "carry: CARRY_TAG=Stderr,syslog,nope is invalid: it takes off, or a comma list of "
         "stdout,stderr,syslog; ignoring Stderr,nope, tagging syslog\n"},
        {"yes", 0,
         "carry: CARRY_TAG=yes is invalid: it takes off, or a comma list of "
         "stdout,stderr,syslog; ignoring yes, tagging nothing\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char assignment[128];
        snprintf(assignment, sizeof assignment, "CARRY_TAG=%s", cases[i].value);
        const char *env[] = {assignment, NULL};
        struct carry__config c = parse(env, "x");
        cr_assert_eq(c.tag, cases[i].tag, "%s", assignment);
        if (cases[i].warning == NULL) {
            cr_assert_eq(warnings, 0, "%s: %s", assignment, warned);
        } else {
            cr_assert_eq(warnings, 1, "%s: %s", assignment, warned);
            cr_assert_str_eq(warned, cases[i].warning);
        }
    }
    cr_assert_eq(parse(NULL, "x").tag, 0, "unset: no tagging");
    const char *passive[] = {"CARRY_TAG=stderr", "CARRY_SKIP=x", NULL};
    cr_assert_eq(parse(passive, "x").tag, 0, "a passive program is not tagged");
}

Test(config, stats_target)
{
    const char *none[] = {NULL};
    cr_assert_null(parse(none, "x").stats);
    const char *env[] = {"CARRY_STATS=/tmp/report", NULL};
    cr_assert_str_eq(parse(env, "x").stats, "/tmp/report");
    cr_assert_eq(warnings, 0, "%s", warned);
}
