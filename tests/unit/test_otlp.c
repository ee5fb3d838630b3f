/*
 * The OTLP encoder (shim/otlp.c) and the OTEL_* configuration and
 * Resource (shim/export.c), checked by code carry did not write: the bytes
 * are decoded by protobufjs with the official opentelemetry-proto
 * definitions (tests/support/otlp/decode.js), which also re-encodes them
 * and demands the same bytes back, so no field can be misnumbered or
 * unknown.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "log.h"
#include "otlp.h"

/* Skips the test unless node and the packages scripts/test installs are
 * there. */
static const char *node_modules(void)
{
    const char *dir = getenv("CARRY_TEST_OTLP_NODE");
    struct stat st;
    if (dir == NULL || stat(dir, &st) != 0 || system("node --version >/dev/null 2>&1") != 0)
        cr_skip_test("node or the OTLP packages are missing (scripts/test installs them with npm "
                     "ci into the build directory's otlp-node/)");
    return dir;
}

/* What decode.js prints for the body: one JSON line per span. */
static char *decode(const uint8_t *body, size_t len)
{
    const char *modules = node_modules();
    char path[] = "/tmp/carry-otlp-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, body, len), (ssize_t)len);
    close(fd);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "NODE_PATH='%s' node '%s/tests/support/otlp/decode.js' '%s'",
             modules, getenv("CARRY_TEST_SOURCE"), path);
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    for (size_t got; (got = fread(out + n, 1, cap - n - 1, p)) > 0;)
        if ((n += got) + 1 == cap)
            out = realloc(out, cap *= 2);
    out[n] = '\0';
    cr_assert_eq(pclose(p), 0, "decode.js failed on the body; it printed %s", out);
    unlink(path);
    return out;
}

static const char *fake_env[32];

static const char *fake_getenv(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; fake_env[i] != NULL; i++)
        if (strncmp(fake_env[i], name, len) == 0 && fake_env[i][len] == '=')
            return fake_env[i] + len + 1;
    return NULL;
}

static char warnings[8192];

static void sink(const char *line, size_t len)
{
    strncat(warnings, line, len < sizeof warnings - strlen(warnings) - 1 ? len : 0);
}

/* The Resource env gives, parsed as start-up does, and its warnings. */
static struct carry__resource resource;

static struct carry__export_config parse(const char *const *env)
{
    size_t i = 0;
    for (; env[i] != NULL; i++)
        fake_env[i] = env[i];
    fake_env[i] = NULL;
    warnings[0] = '\0';
    carry__set_warn_sink(sink);
    struct carry__export_config cfg;
    carry__resource_parse(&resource, fake_getenv, "prog");
    carry__export_parse(&cfg, fake_getenv);
    carry__set_warn_sink(NULL);
    return cfg;
}

static void fill(struct carry__span *s, uint8_t first, uint64_t id, uint64_t parent)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 16; i++)
        s->trace_id[i] = (uint8_t)(first + i);
    s->span_id = id;
    s->parent_span_id = parent;
    s->start_ns = 1700000000123456789ull;
    s->end_ns = 1700000000987654321ull;
    s->kind = CARRY__SPAN_SERVER;
}

static uint8_t body[1 << 16];

Test(otlp, every_field_decodes_as_written)
{
    static const char *const env[] = {
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
        "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod, team%2Cname = a%3Db ,host.name=h1",
        "OTEL_SERVICE_NAME=checkout",
        NULL};
    struct carry__export_config cfg = parse(env);
    cr_assert(cfg.on);
    cr_assert_str_empty(warnings);

    struct carry__span a, b;
    fill(&a, 0x01, 0x0123456789abcdefull, 0);
    a.flags = 1;
    snprintf(a.name, sizeof a.name, "GET /a");
    cr_assert(carry__span_attr(&a, "http.request.method", "GET", 3));
    cr_assert(carry__span_attr_int(&a, "client.port", 54321));
    cr_assert(carry__span_attr_int(&a, "test.negative", -7));
    /* Addresses are split on the exporter's side; an IPv6 one loses its
     * brackets. */
    cr_assert(carry__span_attr_address(&a, "network.peer", "[::1]:8080"));
    cr_assert(carry__span_attr_address(&a, "server", "10.1.2.3:443"));
    fill(&b, 0xf0, 0xfedcba9876543210ull, 0x1122334455667788ull);
    snprintf(b.name, sizeof b.name, "SET");

    const struct carry__span *spans[] = {&a, &b};
    size_t n = carry__otlp_request(body, sizeof body, &resource, 4242, "9.8.7", spans, 2);
    cr_assert_gt(n, 0);
    char *out = decode(body, n);
    char *second = strchr(out, '\n');
    cr_assert(second != NULL && strchr(second + 1, '\n') == second + strlen(second) - 1,
              "two spans: %s", out);
    *second++ = '\0';
    const char *expected =
        "\"resource\":{\"service.name\":\"checkout\",\"telemetry.sdk.name\":\"carry\","
        "\"telemetry.sdk.language\":\"cpp\",\"telemetry.sdk.version\":\"" CARRY_TEST_VERSION "\","
        "\"process.executable.name\":\"prog\",\"deployment.environment\":\"prod\","
        "\"team,name\":\"a=b\",\"host.name\":\"h1\","
        "\"process.pid\":{\"int\":\"4242\"}},\"scope\":{\"name\":\"carry\",\"version\":\"9.8.7\"}";
    static const char *const first[] = {
        "\"trace_id\":\"0102030405060708090a0b0c0d0e0f10\"",
        "\"span_id\":\"0123456789abcdef\"",
        "\"parent_span_id\":\"\"",
        "\"flags\":1",
        "\"name\":\"GET /a\"",
        "\"kind\":2",
        "\"start\":\"1700000000123456789\"",
        "\"end\":\"1700000000987654321\"",
        "\"attributes\":{\"http.request.method\":\"GET\",\"client.port\":{\"int\":\"54321\"},"
        "\"test.negative\":{\"int\":\"-7\"},\"network.peer.address\":\"::1\","
        "\"network.peer.port\":{\"int\":\"8080\"},\"server.address\":\"10.1.2.3\","
        "\"server.port\":{\"int\":\"443\"}}",
    };
    for (size_t i = 0; i < CARRY__COUNT(first); i++)
        cr_expect(strstr(out, first[i]) != NULL, "%s in %s", first[i], out);
    cr_expect(strstr(out, expected) != NULL, "%s in %s", expected, out);
    static const char *const other[] = {
        "\"trace_id\":\"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\"",
        "\"span_id\":\"fedcba9876543210\"",
        "\"parent_span_id\":\"1122334455667788\"",
        "\"flags\":0",
        "\"name\":\"SET\"",
        "\"attributes\":{}",
    };
    for (size_t i = 0; i < CARRY__COUNT(other); i++)
        cr_expect(strstr(second, other[i]) != NULL, "%s in %s", other[i], second);
    free(out);
}

Test(otlp, too_small_a_buffer_says_so)
{
    struct carry__span a;
    fill(&a, 1, 1, 0);
    const struct carry__span *spans[] = {&a};
    size_t n = carry__otlp_request(body, sizeof body, &resource, 1, "1", spans, 1);
    cr_assert_gt(n, 0);
    for (size_t cap = 0; cap < n; cap++)
        cr_assert_eq(carry__otlp_request(body, cap, &resource, 1, "1", spans, 1), 0);
}

Test(otlp, an_attribute_that_does_not_fit_leaves_the_others_whole)
{
    struct carry__span a;
    fill(&a, 1, 1, 0);
    char value[100];
    memset(value, 'v', sizeof value);
    size_t kept = 0;
    while (carry__span_attr(&a, "k", value, sizeof value))
        kept++;
    size_t before = a.attrs_len;
    cr_assert_not(carry__span_attr(&a, "k", value, sizeof value));
    cr_assert_eq(a.attrs_len, before);
    cr_assert_gt(kept, 0);
    const struct carry__span *spans[] = {&a};
    size_t n = carry__otlp_request(body, sizeof body, &resource, 1, "1", spans, 1);
    char *out = decode(body, n);
    cr_assert(strstr(out, "\"attributes\":{\"k\":\"vvvv") != NULL, "%s", out);
    free(out);
}

/* ---- The OTEL_* variables ------------------------------------------------ */

Test(otel_config, a_general_endpoint_gets_v1_traces)
{
    struct carry__export_config cfg =
        parse((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318/base/", NULL});
    cr_assert(cfg.on);
    cr_assert_str_eq(cfg.host, "collector");
    cr_assert_str_eq(cfg.authority, "collector:4318");
    cr_assert_eq(cfg.port, 4318);
    cr_assert_str_eq(cfg.path, "/base/v1/traces");
    cr_assert_eq(cfg.timeout_ms, 10000);
}

Test(otel_config, the_traces_endpoint_is_used_as_is)
{
    struct carry__export_config cfg = parse((const char *[]){
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://ignored:1",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://[::1]:9999/custom", NULL});
    cr_assert(cfg.on);
    cr_assert_str_eq(cfg.host, "::1");
    cr_assert_eq(cfg.port, 9999);
    cr_assert_str_eq(cfg.path, "/custom");
    cfg = parse((const char *[]){"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://h", NULL});
    cr_assert_eq(cfg.port, 80);
    cr_assert_str_eq(cfg.path, "/");
}

Test(otel_config, headers_and_timeout)
{
    struct carry__export_config cfg = parse((const char *[]){
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://h:1",
        "OTEL_EXPORTER_OTLP_HEADERS=x-api-key=s%20ecret, x-tenant=t1,bad header=x,novalue",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=250", NULL});
    cr_assert(cfg.on);
    cr_assert_str_eq(cfg.headers, "x-api-key: s ecret\r\nx-tenant: t1\r\n");
    cr_assert_eq(cfg.timeout_ms, 250);
    cr_assert(strstr(warnings, "cannot send header bad header") != NULL, "%s", warnings);
    cr_assert(strstr(warnings, "ignoring 'novalue'") != NULL, "%s", warnings);
}

Test(otel_config, a_bad_timeout_warns_and_uses_the_default)
{
    struct carry__export_config cfg = parse((const char *[]){
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://h:1", "OTEL_EXPORTER_OTLP_TIMEOUT=soon", NULL});
    cr_assert(cfg.on);
    cr_assert_eq(cfg.timeout_ms, 10000);
    cr_assert(strstr(warnings, "OTEL_EXPORTER_OTLP_TIMEOUT=soon: takes milliseconds") != NULL,
              "%s", warnings);
}

Test(otel_config, what_turns_export_off)
{
    cr_assert_not(parse((const char *[]){NULL}).on);
    cr_assert_str_empty(warnings);
    cr_assert_not(parse((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=http://h:1",
                                         "OTEL_SDK_DISABLED=true", NULL})
                      .on);
    cr_assert_not(parse((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=http://h:1",
                                         "OTEL_TRACES_EXPORTER=none", NULL})
                      .on);
    cr_assert_str_empty(warnings);
    cr_assert_not(parse((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=https://h:4318", NULL}).on);
    cr_assert(strstr(warnings, "carry has no TLS") != NULL, "%s", warnings);
    cr_assert_not(parse((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=http://h:1",
                                         "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", NULL})
                      .on);
    cr_assert(strstr(warnings, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: carry exports over "
                               "http/protobuf only") != NULL,
              "%s", warnings);
    cr_assert_not(parse((const char *[]){"OTEL_EXPORTER_OTLP_ENDPOINT=http://h:99999", NULL}).on);
    cr_assert(strstr(warnings, "not a usable") != NULL, "%s", warnings);
}

Test(otel_config, service_name_from_the_resource_attributes_or_the_program)
{
    parse((const char *[]){"OTEL_RESOURCE_ATTRIBUTES=service.name=web", NULL});
    struct carry__span a;
    fill(&a, 1, 1, 0);
    const struct carry__span *spans[] = {&a};
    size_t n = carry__otlp_request(body, sizeof body, &resource, 1, "1", spans, 1);
    char *out = decode(body, n);
    cr_assert(strstr(out, "\"service.name\":\"web\"") != NULL, "%s", out);
    cr_assert_eq(strstr(strstr(out, "service.name") + 1, "service.name"), NULL, "one: %s", out);
    free(out);
    parse((const char *[]){NULL});
    n = carry__otlp_request(body, sizeof body, &resource, 1, "1", spans, 1);
    out = decode(body, n);
    cr_assert(strstr(out, "\"service.name\":\"prog\"") != NULL, "%s", out);
    free(out);
}
