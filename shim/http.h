/*
 * The head of an HTTP/1.x request, read in place from the bytes a request's
 * first read returned (http.c).  It runs on the first read of every request
 * of every protocol, so anything that is not HTTP/1.x fails at its first
 * bytes, and nothing is read past the bytes given, allocated or copied.
 */
#ifndef CARRY_HTTP_H
#define CARRY_HTTP_H

#include "common.h"

#define CARRY__HTTP_METHOD_MAX 20      /* letters of a method */
#define CARRY__HTTP_TARGET_MAX 8192    /* bytes of a target: the request line is at most 8224 */
#define CARRY__HTTP_HEAD_MAX 16384     /* header lines are looked for in the first 16 KiB */
#define CARRY__HTTP_HEADERS_MAX 64     /* header lines looked at */
#define CARRY__HTTP_REQUEST_ID_MAX 255 /* bytes of an x-request-id carry takes */
#define CARRY__TRACEPARENT_LEN 55      /* what carry keeps of a traceparent */

/* What carry takes from the first bytes a request read.  Pointers point into
 * the bytes given. */
struct carry__http_head {
    const char *method;  size_t method_len;
    const char *target;  size_t target_len;
    /* A valid W3C traceparent, or NULL.  A higher version than 00 may be
     * longer than 55 bytes (fields of its own after a '-'): carry keeps its
     * first CARRY__TRACEPARENT_LEN bytes, the fields of version 00. */
    const char *traceparent;
    const char *request_id; size_t request_id_len;   /* x-request-id, or NULL */
    bool traceparent_rejected;          /* a traceparent header was there but malformed (or repeated) */
    size_t line_len;  /* the request line with its ending */
    size_t head_len;  /* the head through its empty line; 0 when that is not within the bytes
                       * and the bounds below (a head cut short, or too long to look at) */
};

/* True when bytes[0..len) start with a complete HTTP/1.x request line
 * (METHOD SP target SP HTTP/1.0|HTTP/1.1 CRLF or LF): METHOD is 1 to 20
 * uppercase ASCII letters, target 1 to 8192 bytes of visible ASCII.  Then
 * fills *out from that line and the complete header lines that follow
 * within len (stopping at the empty line or at the end of the bytes; a
 * header line cut by the end of the bytes is not taken), looking at no more
 * than 64 header lines and the first 16 KiB.  Header names match in any
 * case; values are taken without the spaces and tabs around them;
 * continuation lines (obs-fold) are ignored; the empty line that ends the head
 * gives head_len.  An x-request-id is taken when
 * it is 1 to 255 bytes of visible ASCII (the first such one); a second
 * traceparent header rejects the traceparent.  *h means something only
 * when it returns true. */
bool carry__http_head_read(const char *bytes, size_t len, struct carry__http_head *h);

/* Whether bytes could start a head (a method's first letter): the test
 * every other protocol fails, inline so that their requests pay no call. */
static inline bool carry__http_maybe(const char *bytes, size_t len)
{
    return len > 0 && bytes[0] >= 'A' && bytes[0] <= 'Z';
}

/* The keys a head gives its request, in the order a request keeps them
 * (carry__http_keep). */
enum carry__http_key {
    CARRY__HTTP_KEY_METHOD,      /* http.method */
    CARRY__HTTP_KEY_TARGET,      /* http.target */
    CARRY__HTTP_KEY_REQUEST_ID,  /* request_id, from x-request-id */
    CARRY__HTTP_KEY_TRACEPARENT, /* traceparent */
    CARRY__HTTP_KEYS
};

/* Bytes h's keys take kept: each value and a NUL. */
static inline size_t carry__http_kept_size(const struct carry__http_head *h)
{
    return h->method_len + h->target_len + (h->request_id ? h->request_id_len : 0) +
           (h->traceparent ? CARRY__TRACEPARENT_LEN : 0) + CARRY__HTTP_KEYS;
}

/* Copies h's keys to out (carry__http_kept_size bytes), one string each
 * in the order of carry__http_key, an absent one empty: a request keeps
 * them so and makes them keys only when they are read. */
void carry__http_keep(char *out, const struct carry__http_head *h);

/* key's value in what carry__http_keep wrote, or NULL when the head had
 * none. */
const char *carry__http_kept(const char *kept, enum carry__http_key key);

/* True when text[0..len) is a valid W3C traceparent that carry adopts. */
bool carry__traceparent_valid(const char *text, size_t len);

#endif /* CARRY_HTTP_H */
