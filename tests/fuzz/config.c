/*
 * Fuzz target: the CARRY_* variables (config.h), which an operator writes.
 * The input sets any of them to any text (or, from its first byte, to one
 * of the names they take, followed by more text).  Parsed, each variable
 * gives what README's Configuration table says its value gives, or, when
 * the value is not one it takes, its default and exactly one warning line
 * naming it; a valid value gets no warning.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

enum { MODE, SCOPE, DEBUG, EPOLL, TRACE, FORMAT, INHERIT, STATS, TAG, CRASH, ONLY, SKIP, VARS };

static const char *const names[VARS] = {
    "CARRY_MODE",       "CARRY_SCOPE",   "CARRY_DEBUG", "CARRY_EPOLL",
    "CARRY_TRACE",      "CARRY_TAG_FORMAT", "CARRY_INHERIT", "CARRY_STATS",
    "CARRY_TAG",        "CARRY_CRASH",   "CARRY_ONLY",  "CARRY_SKIP",
};

/* Words the values are made of, for the fuzzer to start from. */
static const char *const words[] = {
    "off",   "threads", "events", "all",   "epoll",  "accept", "requests", "channels",
    "loops", "dataflow", "request", "connection", "batch", "split", "adopt", "inject",
    "id",    "otel",    "stdout", "stderr", "syslog", "0",      "1",        "3",
    "4",     "fuzz",    "other",  ",",     "",
};

static const char *values[VARS];
static char texts[VARS][256];

static const char *fake_getenv(const char *name)
{
    for (int v = 0; v < VARS; v++)
        if (strcmp(name, names[v]) == 0)
            return values[v];
    return NULL;
}

/* Warning lines, per variable they begin by naming. */
static unsigned warned[VARS], other_lines;

static void sink(const char *line, size_t len)
{
    for (int v = 0; v < VARS; v++) {
        size_t n = strlen(names[v]);
        if (len > 7 + n && memcmp(line, "carry: ", 7) == 0 && memcmp(line + 7, names[v], n) == 0 &&
            line[7 + n] == '=') {
            warned[v]++;
            return;
        }
    }
    other_lines++;
}

/* Calls fn on each comma-separated item of list (none when it is empty);
 * false as soon as fn is. */
static bool each(const char *list, bool (*fn)(const char *, size_t, void *), void *arg)
{
    if (*list == '\0')
        return true;
    for (const char *p = list;; p++) {
        size_t n = strcspn(p, ",");
        if (!fn(p, n, arg))
            return false;
        if (p[n] == '\0')
            return true;
        p += n;
    }
}

static bool is(const char *item, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(item, name, n) == 0;
}

static bool mode_item(const char *item, size_t n, void *arg)
{
    static const struct {
        const char *name;
        unsigned bits;
    } modes[] = {{"off", 0},
                 {"threads", CARRY__RULE_THREADS},
                 {"events", CARRY__MODE_EVENTS},
                 {"all", CARRY__MODE_ALL},
                 {"epoll", CARRY__RULE_EPOLL},
                 {"accept", CARRY__RULE_ACCEPT},
                 {"requests", CARRY__RULE_REQUESTS},
                 {"channels", CARRY__RULE_CHANNELS},
                 {"loops", CARRY__RULE_LOOPS},
                 {"dataflow", CARRY__RULE_DATAFLOW}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (is(item, n, modes[i].name)) {
            *(unsigned *)arg |= modes[i].bits;
            return true;
        }
    return false;
}

struct tags {
    unsigned bits;
    bool bad;
};

static bool tag_item(const char *item, size_t n, void *arg)
{
    struct tags *t = arg;
    if (is(item, n, "stdout"))
        t->bits |= CARRY__TAG_STDOUT;
    else if (is(item, n, "stderr"))
        t->bits |= CARRY__TAG_STDERR;
    else if (is(item, n, "syslog"))
        t->bits |= CARRY__TAG_SYSLOG;
    else if (!is(item, n, "off"))
        t->bad = true;
    return true;
}

struct names {
    unsigned listed, empty;
    bool fuzz;
};

static bool name_item(const char *item, size_t n, void *arg)
{
    struct names *m = arg;
    if (n == 0) {
        m->empty++;
        return true;
    }
    m->listed++;
    m->fuzz |= is(item, n, "fuzz");
    return true;
}

/* A whole decimal number from lo to hi (strtol's, which allows leading
 * spaces and a sign), else fallback. */
static int number(const char *value, int lo, int hi, int fallback, bool *bad)
{
    char *end;
    long n = strtol(value, &end, 10);
    if (end != value && *end == '\0' && n >= lo && n <= hi)
        return (int)n;
    *bad = true;
    return fallback;
}

/* Index of value among choices (the default first), else 0 and bad. */
static unsigned choice(const char *value, const char *const *choices, unsigned n, bool *bad)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(value, choices[i]) == 0)
            return i;
    *bad = true;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(values, 0, sizeof values);
    for (size_t at = 0; at + 1 < size;) {
        int v = data[at++] % VARS;
        size_t n = 0;
        if (data[at] < sizeof words / sizeof words[0]) {
            strcpy(texts[v], words[data[at++]]);
            n = strlen(texts[v]);
        }
        while (at < size && data[at] != '\0' && n < sizeof texts[v] - 1)
            texts[v][n++] = (char)data[at++];
        texts[v][n] = '\0';
        at++;
        values[v] = texts[v];
    }
    memset(warned, 0, sizeof warned);
    other_lines = 0;
    carry__set_warn_sink(sink);
    struct carry__config got;
    carry__config_parse(&got, fake_getenv, "fuzz");
    carry__set_warn_sink(NULL);

    /* What README's table says each value gives. */
    bool bad[VARS] = {false};
    unsigned mode = CARRY__MODE_EVENTS;
    if (values[MODE] != NULL) {
        unsigned bits = 0;
        if (values[MODE][0] != '\0' && each(values[MODE], mode_item, &bits))
            mode = bits;
        else
            bad[MODE] = true;
    }
    static const char *const scopes[] = {"request", "connection"}, *const epolls[] = {"batch", "split"},
                             *const traces[] = {"adopt", "off", "inject"},
                             *const formats[] = {"id", "otel"};
    if (values[SCOPE] != NULL && choice(values[SCOPE], scopes, 2, &bad[SCOPE]) == 1)
        mode &= ~(unsigned)CARRY__RULE_REQUESTS;
    int debug = values[DEBUG] ? number(values[DEBUG], 0, 3, 0, &bad[DEBUG]) : 0;
    bool batch = values[EPOLL] ? choice(values[EPOLL], epolls, 2, &bad[EPOLL]) == 0 : true;
    unsigned trace = values[TRACE] ? choice(values[TRACE], traces, 3, &bad[TRACE]) : 0;
    bool otel = values[FORMAT] ? choice(values[FORMAT], formats, 2, &bad[FORMAT]) == 1 : false;
    bool inherit = values[INHERIT] ? number(values[INHERIT], 0, 1, 1, &bad[INHERIT]) == 1 : true;
    bool crash = values[CRASH] ? number(values[CRASH], 0, 1, 1, &bad[CRASH]) == 1 : true;
    struct tags tags = {0, false};
    if (values[TAG] != NULL)
        each(values[TAG], tag_item, &tags);
    bad[TAG] = tags.bad;
    bool active = true;
    struct names only = {0, 0, false}, skip = {0, 0, false};
    if (values[ONLY] != NULL)
        each(values[ONLY], name_item, &only);
    if (values[SKIP] != NULL)
        each(values[SKIP], name_item, &skip);
    bad[ONLY] = only.empty > 0;
    bad[SKIP] = skip.empty > 0;
    if ((only.listed > 0 && !only.fuzz) || skip.fuzz)
        active = false;

    FUZZ_CHECK(got.mode == mode, "mode %#x, want %#x", got.mode, mode);
    FUZZ_CHECK(got.debug == debug, "debug %d, want %d", got.debug, debug);
    FUZZ_CHECK(got.epoll_batch == batch, "epoll_batch %d", got.epoll_batch);
    FUZZ_CHECK((unsigned)got.trace == trace, "trace %u, want %u", (unsigned)got.trace, trace);
    FUZZ_CHECK(got.tag_otel == otel, "tag_otel %d", got.tag_otel);
    FUZZ_CHECK(got.inherit == inherit, "inherit %d", got.inherit);
    FUZZ_CHECK(got.crash == crash, "crash %d", got.crash);
    FUZZ_CHECK(got.stats == values[STATS], "stats is not the variable's value");
    FUZZ_CHECK(got.active == active, "active %d, want %d", got.active, active);
    FUZZ_CHECK(got.tag == (active ? tags.bits : 0), "tag %#x, want %#x", got.tag,
               active ? tags.bits : 0);
    for (int v = 0; v < VARS; v++)
        FUZZ_CHECK(warned[v] == (bad[v] ? 1u : 0u), "%s=%s: %u warnings", names[v],
                   values[v] ? values[v] : "(unset)", warned[v]);
    FUZZ_CHECK(other_lines == 0, "%u lines naming no variable", other_lines);
    return 0;
}
