/* The stand-in collector (otlp.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otlp.h"

/* node on the PATH, or the test skips. */
static const char *carry_otlp_node(void)
{
    static char node[4096];
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p != '\0';) {
        size_t len = strcspn(p, ":");
        snprintf(node, sizeof node, "%.*s/node", (int)len, p);
        if (access(node, X_OK) == 0)
            return node;
        p += len + (p[len] == ':');
    }
    cr_skip_test("node is not installed");
    return NULL;
}

void carry_otlp_start(struct carry_otlp *r, const char *const *extra)
{
    const char *modules = getenv("CARRY_TEST_OTLP_NODE");
    struct stat st;
    if (modules == NULL || stat(modules, &st) != 0)
        cr_skip_test("the OTLP packages are missing (scripts/test installs them with npm ci into "
                     "the build directory's otlp-node/)");
    const char *node = carry_otlp_node();
    snprintf(r->out, sizeof r->out, "/tmp/carry-otlp-out-XXXXXX");
    int fd = mkstemp(r->out);
    cr_assert(fd >= 0);
    close(fd);
    char script[4096], node_path[4200];
    snprintf(script, sizeof script, "%s/tests/support/otlp/receiver.js", carry_test_source());
    snprintf(node_path, sizeof node_path, "NODE_PATH=%s", modules);
    const char *argv[16] = {node, script, "--out", r->out};
    size_t n = 4;
    for (; extra != NULL && *extra != NULL && n < 15; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    const char *env[] = {node_path, NULL};
    /* node has been seen to end at start-up without a word, once, in a
     * loaded CI run of the sanitizer builds: the stand-in collector is the
     * tests' equipment, not what they test, so it gets three tries, and
     * the exit statuses are said if all fail. */
    int status[3] = {0};
    for (int attempt = 0; attempt < 3; attempt++) {
        r->server = carry_server_try(false, env, argv, &status[attempt]);
        if (r->server.port != 0)
            break;
        cr_assert_lt(attempt, 2, "the OTLP receiver (%s) printed no port line, 3 times: exit "
                     "statuses %d, %d, %d", script, status[0], status[1], status[2]);
    }
    snprintf(r->endpoint, sizeof r->endpoint,
             "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", r->server.port);
}

bool carry_otlp_wait_spans(struct carry_otlp *r, unsigned long n)
{
    struct pollfd p = {.fd = r->server.out, .events = POLLIN};
    for (;;) {
        int rc = poll(&p, 1, 60 * 1000);
        if (rc < 0 && errno == EINTR)
            continue;
        char *line = rc > 0 ? carry_server_line(&r->server) : NULL;
        if (line == NULL)
            return false;
        unsigned long taken = 0;
        bool enough = sscanf(line, "spans=%lu", &taken) == 1 && taken >= n;
        free(line);
        if (enough)
            return true;
    }
}

char *carry_otlp_stop(struct carry_otlp *r)
{
    free(carry_server_stop(&r->server));
    char *text = carry_read_file(r->out);
    unlink(r->out);
    return text;
}

const char *carry_otlp_field(const char *line, const char *key, char *buf, size_t size)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *end = strchr(line, '\n'), *at = strstr(line, needle);
    if (at == NULL || (end != NULL && at > end))
        return NULL;
    at += strlen(needle);
    if (strncmp(at, "{\"int\":", 7) == 0)
        at += 7;
    if (*at != '"')
        return NULL;
    at++;
    size_t n = strcspn(at, "\"");
    if (n >= size)
        return NULL;
    memcpy(buf, at, n);
    buf[n] = '\0';
    return buf;
}
