/*
 * The head of an HTTP/1.x request (http.h).  Every check is bounded by the
 * length given: a head cut by the end of a read yields what is complete in
 * it, and the bytes after the head (a body, a pipelined request) are never
 * looked at.
 */
#include <string.h>

#include "http.h"

/* The bytes of w (eight, little-endian) outside lo..hi (hi < 0x80), each
 * as its high bit (Bit Twiddling Hacks' hasless and hasmore): exact for
 * the lowest such byte, which is all a caller reads. */
static inline uint64_t word_outside(uint64_t w, unsigned char lo, unsigned char hi)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    return (((w - ones * lo) & ~w) | ((w + ones * (127 - hi)) | w)) & highs;
}

/* How many characters of lo..hi s[0..n) starts with: eight at a time, the
 * first other one found in its word by its position (little-endian: the
 * lowest flagged byte is the first; elsewhere, byte by byte). */
static inline size_t run_within(const char *s, size_t n, unsigned char lo, unsigned char hi)
{
    size_t i = 0;
    for (uint64_t w, bad; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if ((bad = word_outside(w, lo, hi)) == 0)
            continue;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return i + (size_t)__builtin_ctzll(bad) / 8;
#else
        break;
#endif
    }
    while (i < n && (unsigned char)s[i] >= lo && (unsigned char)s[i] <= hi)
        i++;
    return i;
}

/* How many visible characters s[0..n) starts with. */
static size_t visible_run(const char *s, size_t n)
{
    return run_within(s, n, 0x21, 0x7e);
}

static bool all_visible(const char *s, size_t n)
{
    return visible_run(s, n) == n;
}

/* n lowercase hex digits (HEXDIGLC), not all 0 when nonzero is asked. */
static bool lchex(const char *s, size_t n, bool nonzero)
{
    bool seen = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        seen |= c != '0';
    }
    return seen || !nonzero;
}

/*
 * W3C Trace Context (Level 1, https://www.w3.org/TR/trace-context-1/),
 * §3.2.2 "traceparent Header Field Values": version "-" trace-id "-"
 * parent-id "-" trace-flags, 2, 32, 16 and 2 lowercase hex digits; version
 * ff is forbidden, an all-zero trace-id or parent-id is invalid.  §3.2.4
 * "Versioning of traceparent": a higher version is at least 55 characters,
 * its first three fields laid out as version 00's, the flags at the end or
 * followed by a '-'.  Version 00 has nothing after the flags.
 */
bool carry__traceparent_valid(const char *text, size_t len)
{
    const char *t = text;
    if (len < CARRY__TRACEPARENT_LEN || !lchex(t, 2, false) || (t[0] == 'f' && t[1] == 'f'))
        return false;
    if (t[0] == '0' && t[1] == '0' ? len != CARRY__TRACEPARENT_LEN
                                   : len > CARRY__TRACEPARENT_LEN && t[CARRY__TRACEPARENT_LEN] != '-')
        return false;
    return t[2] == '-' && t[35] == '-' && t[52] == '-' && lchex(t + 3, 32, true) &&
           lchex(t + 36, 16, true) && lchex(t + 53, 2, false);
}

/* "HTTP/1.0" or "HTTP/1.1" at s, which has eight bytes: the two differ
 * in the last bit of their last byte, set before one compare. */
static inline bool http_1x(const char *s)
{
    uint64_t v, last_bit, want;
    memcpy(&v, s, 8);
    memcpy(&last_bit, "\0\0\0\0\0\0\0\1", 8);
    memcpy(&want, "HTTP/1.1", 8);
    return (v | last_bit) == want;
}

/* METHOD SP target SP HTTP/1.0|1 CRLF|LF at the start of b: the length of
 * the line with its ending (method and target in h), or 0. */
static size_t request_line(const char *b, size_t len, struct carry__http_head *h)
{
    size_t i = run_within(b, len < CARRY__HTTP_METHOD_MAX ? len : CARRY__HTTP_METHOD_MAX, 'A', 'Z');
    if (i == 0 || i == len || b[i] != ' ')
        return 0;
    h->method = b;
    h->method_len = i;
    size_t target = ++i;
    size_t bound = len - target > CARRY__HTTP_TARGET_MAX ? target + CARRY__HTTP_TARGET_MAX : len;
    i += visible_run(b + i, bound - i);
    if (i == target || i == len || b[i] != ' ')
        return 0;
    h->target = b + target;
    h->target_len = i - target;
    i++;
    /* "HTTP/1.x" and at least the LF after it. */
    if (len - i < 9 || !http_1x(b + i))
        return 0;
    i += 8;
    if (b[i] == '\r')
        i++;
    if (i == len || b[i] != '\n')
        return 0;
    return i + 1;
}

/* Is the header name s[0..n) the lowercase name want, in any case? */
static bool name_is(const char *s, size_t n, const char *want, size_t want_len)
{
    if (n != want_len)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != want[i])
            return false;
    }
    return true;
}

/* One complete header line, without its line ending.  A continuation line
 * (obs-fold) starts with a space or tab, so its name matches none. */
static void header_line(const char *line, size_t n, struct carry__http_head *h)
{
    /* Only two names matter, and most lines are settled by their first
     * byte (the two letters in either case). */
    char initial = (char)(line[0] | 0x20);
    if (initial != 't' && initial != 'x')
        return;
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return;
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t name_len = (size_t)(colon - line), v_len = (size_t)(end - v);
    if (name_is(line, name_len, "traceparent", 11)) {
        /* The spec's test suite (test_traceparent_duplicated) treats a
         * request with two traceparent headers as carrying none. */
        bool first = !h->traceparent && !h->traceparent_rejected;
        h->traceparent = first && carry__traceparent_valid(v, v_len) ? v : NULL;
        h->traceparent_rejected = !h->traceparent;
    } else if (name_is(line, name_len, "x-request-id", 12) && !h->request_id && v_len > 0 &&
               v_len <= CARRY__HTTP_REQUEST_ID_MAX && all_visible(v, v_len)) {
        h->request_id = v;
        h->request_id_len = v_len;
    }
}

bool carry__http_head_read(const char *bytes, size_t len, struct carry__http_head *h)
{
    size_t at = request_line(bytes, len, h);
    if (!at)
        return false;
    h->line_len = at;
    h->traceparent = NULL;
    h->request_id = NULL;
    h->request_id_len = 0;
    h->traceparent_rejected = false;
    h->head_len = 0;
    size_t end = len < CARRY__HTTP_HEAD_MAX ? len : CARRY__HTTP_HEAD_MAX;
    for (unsigned lines = 0; lines < CARRY__HTTP_HEADERS_MAX && at < end; lines++) {
        const char *lf = memchr(bytes + at, '\n', end - at);
        if (!lf)
            break; /* cut by the end of the bytes, or past 16 KiB */
        size_t n = (size_t)(lf - (bytes + at));
        if (n > 0 && bytes[at + n - 1] == '\r')
            n--;
        if (n == 0) {
            /* The empty line: what follows is not the head's. */
            h->head_len = (size_t)(lf - bytes) + 1;
            break;
        }
        header_line(bytes + at, n, h);
        at += (size_t)(lf - (bytes + at)) + 1;
    }
    return true;
}

/* A value and its NUL at out, unless absent (NULL): the NUL alone.  The
 * place after them. */
static inline __attribute__((always_inline)) char *keep_one(char *out, const char *value,
                                                            size_t len)
{
    if (value != NULL) {
        carry__copy(out, value, len);
        out += len;
    }
    *out = '\0';
    return out + 1;
}

void carry__http_keep(char *out, const struct carry__http_head *h)
{
    /* The method, its space and the target are the request line's first
     * bytes: one copy, the space made the method's NUL. */
    out = keep_one(out, h->method, h->method_len + 1 + h->target_len);
    out[-(ptrdiff_t)h->target_len - 2] = '\0';
    out = keep_one(out, h->request_id, h->request_id_len);
    keep_one(out, h->traceparent, CARRY__TRACEPARENT_LEN);
}

const char *carry__http_kept(const char *kept, enum carry__http_key key)
{
    for (unsigned i = 0; i < (unsigned)key; i++)
        kept += strlen(kept) + 1;
    return kept[0] != '\0' ? kept : NULL;
}
