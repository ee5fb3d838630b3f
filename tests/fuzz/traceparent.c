/*
 * Fuzz target: W3C traceparents (http.h's validation, trace.h's adoption
 * and formatting), text a remote peer chooses.  The validation agrees with
 * the specification's rules, written out plainly here; a traceparent carry
 * adopts comes back out of its record as the same text, in version 00.
 */
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "trace.h"

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]) || s[i] == '\0')
            return false;
    return true;
}

static bool all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

/* W3C Trace Context Level 1, §3.2.2 and §3.2.4. */
static bool spec_valid(const char *t, size_t len)
{
    if (len < 55 || !lower_hex(t, 2) || memcmp(t, "ff", 2) == 0)
        return false;
    if (memcmp(t, "00", 2) == 0 && len != 55)
        return false;
    if (len > 55 && t[55] != '-')
        return false;
    if (t[2] != '-' || t[35] != '-' || t[52] != '-')
        return false;
    return lower_hex(t + 3, 32) && !all_zero(t + 3, 32) && lower_hex(t + 36, 16) &&
           !all_zero(t + 36, 16) && lower_hex(t + 53, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_exact_copy(data, size);
    bool valid = carry__traceparent_valid(text, size);
    FUZZ_CHECK(valid == spec_valid(text, size), "carry says %s of %.*s", valid ? "valid" : "invalid",
               (int)size, text);
    if (valid) {
        /* Adopted, then written out with the caller's span as the span:
         * the same fields back. */
        struct carry__trace t;
        memset(&t, 0, sizeof t);
        carry__trace_adopt(&t, text);
        carry__trace_put_be64(t.span_id, t.parent_span);
        char out[CARRY__TRACEPARENT_TEXT];
        carry__trace_format(out, &t);
        FUZZ_CHECK(memcmp(out, "00", 2) == 0 && memcmp(out + 2, text + 2, 53) == 0,
                   "%.*s came back as %.*s", 55, text, 55, out);
    }
    free(text);
    return 0;
}
