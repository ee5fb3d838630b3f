/*
 * Fuzz target: the OTLP encoding of spans (otlp.h), whose attributes a
 * program sets (carry_set) with any key and value.  The input is one span:
 * its ids, name, kind and flags, then attribute entries as span.c makes
 * them, until carry__span_put refuses one: strings and integers of any
 * non-empty key and any value, and the addresses "client" and "server"
 * (once each, as text of at most CARRY__ADDR_MAX bytes).  A
 * batch of the exporter's size of such spans, under the largest Resource,
 * fits the exporter's body, as CARRY__SPAN_ENCODED_MAX promises (a batch
 * that did not would be dropped whole); and the encoder writes the same
 * bytes into a buffer of exactly their size as into a larger one, and
 * nothing into one a byte smaller.
 */
#include <string.h>

#include "export.h"
#include "fuzz.h"
#include "otlp.h"

/* The exporter's body (export.c): a batch at CARRY__SPAN_ENCODED_MAX a
 * span, and room for the Resource and the scope. */
#define BODY (CARRY__EXPORT_BATCH * CARRY__SPAN_ENCODED_MAX + 4096)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct carry__span span;
    static struct carry__resource resource;
    static uint8_t body[BODY];
    memset(&span, 0, sizeof span);
    struct fuzz_input in = {data, size};
    for (size_t i = 0; i < sizeof span.trace_id; i++)
        span.trace_id[i] = (uint8_t)fuzz_take(&in);
    for (int i = 0; i < 8; i++) {
        span.span_id = span.span_id << 8 | fuzz_take(&in);
        span.parent_span_id = span.parent_span_id << 8 | fuzz_take(&in);
        span.start_ns = span.start_ns << 8 | fuzz_take(&in);
        span.end_ns = span.end_ns << 8 | fuzz_take(&in);
    }
    span.flags = (uint8_t)fuzz_take(&in);
    span.kind = (uint8_t)fuzz_take(&in);
    size_t name_len = fuzz_take(&in) % sizeof span.name;
    for (size_t i = 0; i < name_len; i++)
        span.name[i] = (char)fuzz_take(&in);
    /* Attribute entries until the span refuses one. */
    static const char *const addresses[] = {"client", "server"};
    unsigned next_address = 0;
    for (;;) {
        unsigned kind = fuzz_take(&in) % 4;
        size_t key_len = 1 + fuzz_take(&in) % 255, value_len = fuzz_take(&in);
        value_len |= (size_t)fuzz_take(&in) << 8;
        char key[256];
        for (size_t i = 0; i < key_len; i++)
            key[i] = (char)(fuzz_take(&in) | 1); /* no NUL: the key is a C string */
        key[key_len] = '\0';
        if (kind == CARRY__SPAN_INT) {
            value_len = 8;
        } else if (kind == CARRY__SPAN_ADDRESS && next_address < 2) {
            strcpy(key, addresses[next_address++]);
            value_len %= 128;
        } else {
            kind = CARRY__SPAN_STR;
        }
        char value[UINT16_MAX + 1];
        for (size_t i = 0; i < value_len && i < sizeof value; i++)
            value[i] = (char)fuzz_take(&in);
        if (in.n == 0 || !carry__span_put(&span, kind, key, value, value_len))
            break;
    }
    /* The largest Resource the exporter keeps. */
    resource.len = sizeof resource.attrs;
    memset(resource.attrs, 0x0a, sizeof resource.attrs);

    const struct carry__span *batch[CARRY__EXPORT_BATCH];
    for (size_t i = 0; i < CARRY__EXPORT_BATCH; i++)
        batch[i] = &span;
    size_t whole = carry__otlp_request(body, sizeof body, &resource, 4194304, CARRY_VERSION, batch,
                                       CARRY__EXPORT_BATCH);
    FUZZ_CHECK(whole != 0, "a batch of %d spans of %u attribute bytes does not fit %d bytes",
               CARRY__EXPORT_BATCH, span.attrs_len, BODY);

    /* One span: the same bytes in a buffer of exactly their size, none in
     * one a byte smaller. */
    size_t len = carry__otlp_request(body, sizeof body, &resource, 42, CARRY_VERSION, batch, 1);
    FUZZ_CHECK(len != 0 && len < sizeof body, "one span: %zu bytes", len);
    uint8_t *exact = malloc(len);
    FUZZ_CHECK(exact != NULL, "out of memory");
    FUZZ_CHECK(carry__otlp_request(exact, len, &resource, 42, CARRY_VERSION, batch, 1) == len &&
                   memcmp(exact, body, len) == 0,
               "other bytes in a buffer of exactly %zu", len);
    FUZZ_CHECK(carry__otlp_request(exact, len - 1, &resource, 42, CARRY_VERSION, batch, 1) == 0,
               "a request of %zu bytes written into %zu", len, len - 1);
    free(exact);
    return 0;
}
