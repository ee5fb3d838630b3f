/*
 * Fuzz target: the HTTP/1.x head carry reads from the first bytes of every
 * request (http.h), bytes a remote peer chooses.  Whatever the bytes, the
 * read stays within them and what it returns keeps http.h's promises; the
 * keys a request keeps from the head read back as the head gave them.
 */
#include <string.h>

#include "fuzz.h"
#include "http.h"

static const char *input;
static size_t input_len;

/* p[0..n) lies within the input. */
static void check_within(const char *what, const char *p, size_t n)
{
    FUZZ_CHECK(p >= input && n <= input_len && (size_t)(p - input) <= input_len - n,
               "%s outside the bytes given", what);
}

static bool all_in(const char *p, size_t n, char lo, char hi)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < lo || p[i] > hi)
            return false;
    return true;
}

static void check_kept(const char *kept, enum carry__http_key key, const char *value, size_t len)
{
    const char *got = carry__http_kept(kept, key);
    if (value == NULL || len == 0) {
        FUZZ_CHECK(got == NULL, "key %d kept though the head had none", (int)key);
        return;
    }
    FUZZ_CHECK(got != NULL && strlen(got) == len && memcmp(got, value, len) == 0,
               "key %d kept as other bytes", (int)key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *bytes = fuzz_exact_copy(data, size);
    input = bytes;
    input_len = size;
    struct carry__http_head h;
    if (!carry__http_head_read(bytes, size, &h)) {
        free(bytes);
        return 0;
    }
    /* The request line: METHOD SP target SP HTTP/1.x, then CRLF or LF. */
    FUZZ_CHECK(h.method == bytes, "the method does not start the bytes");
    FUZZ_CHECK(h.method_len >= 1 && h.method_len <= CARRY__HTTP_METHOD_MAX &&
                   all_in(h.method, h.method_len, 'A', 'Z'),
               "method of %zu bytes", h.method_len);
    FUZZ_CHECK(h.target == bytes + h.method_len + 1 && bytes[h.method_len] == ' ',
               "the target does not follow the method's space");
    check_within("target", h.target, h.target_len);
    FUZZ_CHECK(h.target_len >= 1 && h.target_len <= CARRY__HTTP_TARGET_MAX &&
                   all_in(h.target, h.target_len, 0x21, 0x7e),
               "target of %zu bytes", h.target_len);
    check_within("request line", bytes, h.line_len);
    size_t version = h.method_len + 1 + h.target_len + 1;
    FUZZ_CHECK(bytes[version - 1] == ' ' && h.line_len >= version + 9 &&
                   (memcmp(bytes + version, "HTTP/1.0", 8) == 0 ||
                    memcmp(bytes + version, "HTTP/1.1", 8) == 0) &&
                   bytes[h.line_len - 1] == '\n' &&
                   (h.line_len == version + 9 ||
                    (h.line_len == version + 10 && bytes[version + 8] == '\r')),
               "request line of %zu bytes", h.line_len);
    /* The head's end, when found, is an empty line after the request line
     * within the first 16 KiB. */
    if (h.head_len != 0) {
        check_within("head", bytes, h.head_len);
        FUZZ_CHECK(h.head_len > h.line_len && h.head_len <= CARRY__HTTP_HEAD_MAX &&
                       bytes[h.head_len - 1] == '\n' &&
                       (bytes[h.head_len - 2] == '\n' ||
                        (bytes[h.head_len - 2] == '\r' && bytes[h.head_len - 3] == '\n')),
                   "head of %zu bytes", h.head_len);
    }
    if (h.traceparent != NULL) {
        check_within("traceparent", h.traceparent, CARRY__TRACEPARENT_LEN);
        FUZZ_CHECK(!h.traceparent_rejected, "a traceparent both taken and rejected");
        /* A later version's own fields after the first 55 bytes aside. */
        FUZZ_CHECK(carry__traceparent_valid(h.traceparent, CARRY__TRACEPARENT_LEN),
                   "an invalid traceparent taken");
        FUZZ_CHECK(h.head_len == 0 || h.traceparent + CARRY__TRACEPARENT_LEN <= bytes + h.head_len,
                   "a traceparent taken past the head");
    }
    if (h.request_id != NULL) {
        check_within("x-request-id", h.request_id, h.request_id_len);
        FUZZ_CHECK(h.request_id_len >= 1 && h.request_id_len <= CARRY__HTTP_REQUEST_ID_MAX &&
                       all_in(h.request_id, h.request_id_len, 0x21, 0x7e),
                   "x-request-id of %zu bytes", h.request_id_len);
        FUZZ_CHECK(h.head_len == 0 || h.request_id + h.request_id_len <= bytes + h.head_len,
                   "an x-request-id taken past the head");
    }
    /* What a request keeps of the head, in a buffer of exactly its size. */
    size_t kept_size = carry__http_kept_size(&h);
    char *kept = malloc(kept_size);
    FUZZ_CHECK(kept != NULL, "out of memory");
    carry__http_keep(kept, &h);
    check_kept(kept, CARRY__HTTP_KEY_METHOD, h.method, h.method_len);
    check_kept(kept, CARRY__HTTP_KEY_TARGET, h.target, h.target_len);
    check_kept(kept, CARRY__HTTP_KEY_REQUEST_ID, h.request_id, h.request_id_len);
    check_kept(kept, CARRY__HTTP_KEY_TRACEPARENT, h.traceparent,
               h.traceparent ? CARRY__TRACEPARENT_LEN : 0);
    free(kept);
    free(bytes);
    return 0;
}
