/*
 * Rule O's transport (export.h): the OTEL_* configuration, the queue of
 * spans, and the exporter thread with its HTTP/1.1 client.
 *
 * The queue is Vyukov's bounded ring: each slot has a sequence number that
 * says whose turn it is (equal to the position: free for the producer
 * claiming it; position + 1: committed, the exporter's; position + slots:
 * free again for the next lap).  Producers compete for positions with one
 * compare-and-swap; the one exporter thread takes positions in order.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "lock.h"
#include "log.h"
#include "stats.h"
#include "sys.h"
#include "trace.h"

#define CARRY__EXPORT_MASK (CARRY__EXPORT_SLOTS - 1)
#define CARRY__EXPORT_TICK_MS 200      /* the exporter's sleep when little is queued */
#define CARRY__EXPORT_SLICE_MS 50      /* the longest wait before a deadline is looked at again */
#define CARRY__EXPORT_EXIT_MS 1000     /* the flush at exit, at most */
#define CARRY__EXPORT_BACKOFF_MS 100   /* the first retry's delay, doubled up to... */
#define CARRY__EXPORT_BACKOFF_MAX_MS 5000
#define CARRY__NS_PER_MS 1000000ull

bool carry__export_configured;
static struct carry__export_config carry__export_cfg;
static carry__thread_create_fn *_Atomic carry__export_thread_create;

/* The ring; producers and the exporter write different cache lines. */
static struct carry__span carry__export_spans[CARRY__EXPORT_SLOTS];
static _Atomic uint64_t carry__export_seq[CARRY__EXPORT_SLOTS];
static _Alignas(64) _Atomic uint64_t carry__export_head; /* the next position to claim */
static _Alignas(64) _Atomic uint64_t carry__export_tail; /* the next position to send */

/* The exporter thread: not started, running, or could not be started. */
enum { CARRY__EXPORTER_IDLE, CARRY__EXPORTER_RUNNING, CARRY__EXPORTER_FAILED };
static _Alignas(64) _Atomic int carry__exporter_state;
/* True while the exporter sleeps; a producer that finds a batch queued
 * then clears it and wakes the exporter through carry__export_wake. */
static _Atomic bool carry__export_sleeping;
static _Atomic uint32_t carry__export_wake;
/* The flush at exit: its deadline (CLOCK_MONOTONIC ns, 0: none asked),
 * and the word the exporter sets when it is over. */
static _Atomic uint64_t carry__export_flush_deadline;
static _Atomic uint32_t carry__export_flushed;

/* ---- The configuration -------------------------------------------------- */

/* text[0..len) percent-decoded and trimmed of blanks into out (size
 * bytes, NUL-terminated); its length, or -1 when it does not fit or a %
 * is not followed by two hex digits. */
static long carry__pct_decode(const char *text, size_t len, char *out, size_t size)
{
    while (len > 0 && (*text == ' ' || *text == '\t'))
        text++, len--;
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '%') {
            int hi = i + 2 < len ? carry__unhex(text[i + 1]) : -1;
            int lo = hi >= 0 ? carry__unhex(text[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n + 1 >= size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    return (long)n;
}

/*
 * Calls fn(key, value) for each "key=value" of a comma-separated list
 * (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS), both
 * percent-decoded and trimmed; an item without '=', with an empty key or
 * that cannot be decoded gets a warning naming var and is skipped.
 */
static void carry__each_pair(const char *var, const char *list,
                             void (*fn)(const char *key, size_t key_len, const char *value,
                                        size_t value_len, void *arg),
                             void *arg)
{
    char key[256], value[1024];
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        long k = eq ? carry__pct_decode(p, (size_t)(eq - p), key, sizeof key) : -1;
        long v = k > 0 ? carry__pct_decode(eq + 1, len - (size_t)(eq - p) - 1, value, sizeof value)
                       : -1;
        if (v >= 0)
            fn(key, (size_t)k, value, (size_t)v, arg);
        else if (len > 0)
            carry__warn("%s: ignoring '%.*s' (not key=value, percent-encoded)", var, (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
}

/* OTEL_RESOURCE_ATTRIBUTES, encoded apart from carry's own attributes
 * (which go first); its service.name is left out when OTEL_SERVICE_NAME
 * is set, which wins. */
struct carry__resource_attrs {
    struct carry__pb pb;
    bool skip_service, has_service;
};

static const char carry__service_key[] = "service.name";

static void carry__resource_attr(const char *key, size_t key_len, const char *value,
                                 size_t value_len, void *arg)
{
    struct carry__resource_attrs *attrs = arg;
    bool service = strcmp(key, carry__service_key) == 0;
    (void)key_len;
    if (service && attrs->skip_service)
        return;
    size_t len = attrs->pb.len;
    if (carry__pb_attr_str(&attrs->pb, CARRY__OTLP_RESOURCE_ATTR, key, value, value_len)) {
        attrs->has_service |= service;
        return;
    }
    attrs->pb = (struct carry__pb){attrs->pb.buf, attrs->pb.cap, len, false};
    carry__warn("OTEL_RESOURCE_ATTRIBUTES: no room for %s; left out", key);
}

/* A header's name is an HTTP token; its value has no line break. */
static void carry__header(const char *key, size_t key_len, const char *value, size_t value_len,
                          void *arg)
{
    struct carry__export_config *cfg = arg;
    bool ok = strspn(key, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == key_len &&
              strcspn(value, "\r\n") == value_len;
    size_t used = strlen(cfg->headers);
    int n = ok ? snprintf(cfg->headers + used, sizeof cfg->headers - used, "%s: %s\r\n", key, value)
               : -1;
    if (n < 0 || (size_t)n >= sizeof cfg->headers - used) {
        cfg->headers[used] = '\0';
        carry__warn("OTEL_EXPORTER_OTLP_HEADERS: cannot send header %s; left out", key);
    }
}

/* The signal's own variable (OTEL_EXPORTER_OTLP_TRACES_X), else the
 * general one (OTEL_EXPORTER_OTLP_X); *name says which was read. */
static const char *carry__otlp_var(carry__getenv_fn *getenv_fn, const char *what,
                                   const char **name, char *buf, size_t size)
{
    snprintf(buf, size, "OTEL_EXPORTER_OTLP_TRACES_%s", what);
    const char *value = getenv_fn(buf);
    if (value == NULL || *value == '\0') {
        snprintf(buf, size, "OTEL_EXPORTER_OTLP_%s", what);
        value = getenv_fn(buf);
    }
    *name = buf;
    return value != NULL && *value != '\0' ? value : NULL;
}

/* http://host[:port][/path] into cfg; base adds /v1/traces to the path (a
 * general endpoint).  False, having said why, when it cannot be used. */
static bool carry__parse_endpoint(struct carry__export_config *cfg, const char *var,
                                  const char *url, bool base)
{
    if (strncasecmp(url, "https://", 8) == 0) {
        carry__warn("%s=%s: carry has no TLS, so it cannot send spans over https; spans are not "
                    "exported (point it at a collector's http:// endpoint, e.g. on localhost)",
                    var, url);
        return false;
    }
    if (strncasecmp(url, "http://", 7) != 0) {
        carry__warn("%s=%s: not an http:// URL; spans are not exported", var, url);
        return false;
    }
    const char *auth = url + 7;
    size_t auth_len = strcspn(auth, "/?#");
    const char *host = auth, *port_text = NULL;
    size_t host_len;
    if (*auth == '[') {
        const char *close = memchr(auth, ']', auth_len);
        host = auth + 1;
        host_len = close ? (size_t)(close - host) : 0;
        if (close && close + 1 < auth + auth_len)
            port_text = *(close + 1) == ':' ? close + 2 : auth; /* auth: not a port */
    } else {
        const char *colon = memchr(auth, ':', auth_len);
        host_len = colon ? (size_t)(colon - auth) : auth_len;
        port_text = colon ? colon + 1 : NULL;
    }
    unsigned long port = 80;
    if (port_text != NULL) {
        char *end;
        port = strtoul(port_text, &end, 10);
        if (end != auth + auth_len || end == port_text || port == 0 || port > 65535)
            host_len = 0;
    }
    const char *path = auth + auth_len;
    size_t path_len = strlen(path);
    if (base && path_len > 0 && path[path_len - 1] == '/')
        path_len--;
    if (host_len == 0 || host_len >= sizeof cfg->host || auth_len >= sizeof cfg->authority ||
        path_len + sizeof "/v1/traces" > sizeof cfg->path) {
        carry__warn("%s=%s: not a usable http://host[:port][/path] URL; spans are not exported",
                    var, url);
        return false;
    }
    memcpy(cfg->host, host, host_len);
    cfg->host[host_len] = '\0';
    memcpy(cfg->authority, auth, auth_len);
    cfg->authority[auth_len] = '\0';
    cfg->port = (uint16_t)port;
    snprintf(cfg->path, sizeof cfg->path, "%.*s%s", (int)path_len, path,
             base ? "/v1/traces" : path_len == 0 ? "/" : "");
    return true;
}

/* OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER: false when they turn
 * traces off, or ask for something carry does not do (said). */
static bool carry__traces_wanted(carry__getenv_fn *getenv_fn)
{
    const char *disabled = getenv_fn("OTEL_SDK_DISABLED");
    if (disabled != NULL && strcasecmp(disabled, "true") == 0)
        return false;
    if (disabled != NULL && *disabled != '\0' && strcasecmp(disabled, "false") != 0)
        carry__warn("OTEL_SDK_DISABLED=%s: takes true or false; using false", disabled);
    const char *exporters = getenv_fn("OTEL_TRACES_EXPORTER");
    if (exporters == NULL || *exporters == '\0')
        return true;
    bool otlp = false;
    for (const char *p = exporters; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == 4 && strncasecmp(p, "none", 4) == 0)
            return false;
        otlp |= len == 4 && strncasecmp(p, "otlp", 4) == 0;
        p += len + (p[len] == ',');
    }
    if (!otlp)
        carry__warn("OTEL_TRACES_EXPORTER=%s: carry exports spans with otlp only; spans are not "
                    "exported", exporters);
    return otlp;
}

void carry__export_parse(struct carry__export_config *out, carry__getenv_fn *getenv_fn)
{
    memset(out, 0, sizeof *out);
    out->timeout_ms = 10000;
    char name_buf[64];
    const char *name;
    const char *url = carry__otlp_var(getenv_fn, "ENDPOINT", &name, name_buf, sizeof name_buf);
    if (url == NULL || !carry__traces_wanted(getenv_fn))
        return;
    bool base = strcmp(name, "OTEL_EXPORTER_OTLP_ENDPOINT") == 0;
    if (!carry__parse_endpoint(out, name, url, base))
        return;
    const char *protocol = carry__otlp_var(getenv_fn, "PROTOCOL", &name, name_buf, sizeof name_buf);
    if (protocol != NULL && strcmp(protocol, "http/protobuf") != 0) {
        carry__warn("%s=%s: carry exports over http/protobuf only; spans are not exported", name,
                    protocol);
        return;
    }
    const char *timeout = carry__otlp_var(getenv_fn, "TIMEOUT", &name, name_buf, sizeof name_buf);
    if (timeout != NULL) {
        char *end;
        unsigned long ms = strtoul(timeout, &end, 10);
        if (*end != '\0' || ms == 0 || ms > 600000 || *timeout == '-')
            carry__warn("%s=%s: takes milliseconds, 1 to 600000; using 10000", name, timeout);
        else
            out->timeout_ms = (unsigned)ms;
    }
    const char *headers = carry__otlp_var(getenv_fn, "HEADERS", &name, name_buf, sizeof name_buf);
    if (headers != NULL)
        carry__each_pair(name, headers, carry__header, out);

    out->on = true;
}

/* The bytes of s that fit in max, cut before a UTF-8 continuation byte. */
static size_t carry__utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

struct carry__resource carry__resource;

void carry__resource_parse(struct carry__resource *out, carry__getenv_fn *getenv_fn,
                           const char *program)
{
    /* service.name: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES's,
     * else the program's name. */
    const char *service = getenv_fn("OTEL_SERVICE_NAME");
    const char *list = getenv_fn("OTEL_RESOURCE_ATTRIBUTES");
    uint8_t listed[1536];
    struct carry__resource_attrs attrs = {{listed, sizeof listed, 0, false},
                                          service != NULL && *service != '\0', false};
    if (list != NULL)
        carry__each_pair("OTEL_RESOURCE_ATTRIBUTES", list, carry__resource_attr, &attrs);
    /* carry's own, service.name first unless the list named it; "cpp" is
     * the semantic conventions' telemetry.sdk.language for C and C++. */
    const char *const own[][2] = {
        {carry__service_key, attrs.skip_service ? service : program},
        {"telemetry.sdk.name", "carry"},
        {"telemetry.sdk.language", "cpp"},
        {"telemetry.sdk.version", CARRY_VERSION},
        {"process.executable.name", program},
    };
    struct carry__pb pb = {out->attrs, sizeof out->attrs, 0, false};
    /* A value longer than 255 bytes (a program's name, OTEL_SERVICE_NAME)
     * is cut there; room for all is certain: the buffers' sizes add up. */
    for (size_t i = attrs.has_service; i < CARRY__COUNT(own); i++)
        carry__pb_attr_str(&pb, CARRY__OTLP_RESOURCE_ATTR, own[i][0], own[i][1],
                           carry__utf8_prefix(own[i][1], 255));
    carry__pb_raw(&pb, listed, attrs.pb.len);
    out->len = pb.len;
}

/* ---- The queue ------------------------------------------------------------ */

static uint64_t carry__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void carry__futex_wake(_Atomic uint32_t *word)
{
    carry__sys(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1);
}

/* Sleeps while *word is seen, at most until deadline (CLOCK_MONOTONIC ns). */
static void carry__futex_wait(_Atomic uint32_t *word, uint32_t seen, uint64_t deadline)
{
    uint64_t now = carry__mono_ns();
    if (now >= deadline)
        return;
    struct timespec rel = {(time_t)((deadline - now) / 1000000000ull),
                           (long)((deadline - now) % 1000000000ull)};
    carry__sys(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, &rel);
}

/* Empties the ring: every slot free for its first lap. */
static void carry__export_reset_queue(void)
{
    for (uint64_t i = 0; i < CARRY__EXPORT_SLOTS; i++)
        atomic_store_explicit(&carry__export_seq[i], i, memory_order_relaxed);
    atomic_store_explicit(&carry__export_head, 0, memory_order_relaxed);
    atomic_store_explicit(&carry__export_tail, 0, memory_order_release);
}

struct carry__span *carry__export_claim(void)
{
    uint64_t pos = atomic_load_explicit(&carry__export_head, memory_order_relaxed);
    for (;;) {
        uint64_t seq = atomic_load_explicit(&carry__export_seq[pos & CARRY__EXPORT_MASK],
                                            memory_order_acquire);
        int64_t lap = (int64_t)(seq - pos);
        if (lap == 0) {
            if (atomic_compare_exchange_weak_explicit(&carry__export_head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                struct carry__span *span = &carry__export_spans[pos & CARRY__EXPORT_MASK];
                CARRY__TSAN_ACQUIRE(&carry__export_seq[pos & CARRY__EXPORT_MASK]);
                span->attrs_len = 0;
                return span;
            }
        } else if (lap < 0) {
            carry__count(&carry__stats.spans_dropped);
            return NULL;
        } else {
            pos = atomic_load_explicit(&carry__export_head, memory_order_relaxed);
        }
    }
}

/* A writer after the span's attributes; no one else touches a claimed
 * span until it is committed. */
static bool carry__span_attr_fits(bool fits)
{
    if (!fits)
        carry__count(&carry__stats.spans_truncated);
    return fits;
}

bool carry__span_attr(struct carry__span *span, const char *key, const char *value,
                      size_t value_len)
{
    return carry__span_attr_fits(carry__span_put(span, CARRY__SPAN_STR, key, value, value_len));
}

bool carry__span_attr_int(struct carry__span *span, const char *key, int64_t value)
{
    uint8_t bytes[8];
    for (size_t i = 0; i < 8; i++)
        bytes[i] = (uint8_t)((uint64_t)value >> (8 * i));
    return carry__span_attr_fits(carry__span_put(span, CARRY__SPAN_INT, key, bytes, 8));
}

bool carry__span_attr_address(struct carry__span *span, const char *key, const char *text)
{
    return carry__span_attr_fits(
        carry__span_put(span, CARRY__SPAN_ADDRESS, key, text, strlen(text)));
}

static void carry__exporter_start(void);

void carry__export_commit(struct carry__span *span)
{
    _Atomic uint64_t *seq = &carry__export_seq[span - carry__export_spans];
    /* Claimed, the slot's number is its position; no one else writes it. */
    uint64_t pos = atomic_load_explicit(seq, memory_order_relaxed);
    /* Commits run inside the program's blocking calls too (a context dies
     * at an epoll_wait), where ThreadSanitizer's runtime does not count
     * atomics as synchronisation: say it (lock.h). */
    CARRY__TSAN_RELEASE(seq);
    atomic_store_explicit(seq, pos + 1, memory_order_release);
    if (CARRY__UNLIKELY(atomic_load_explicit(&carry__exporter_state, memory_order_relaxed) ==
                        CARRY__EXPORTER_IDLE))
        carry__exporter_start();
    uint64_t queued = pos + 1 - atomic_load_explicit(&carry__export_tail, memory_order_relaxed);
    if (queued >= CARRY__EXPORT_BATCH &&
        atomic_load_explicit(&carry__export_sleeping, memory_order_relaxed) &&
        atomic_exchange(&carry__export_sleeping, false)) {
        atomic_fetch_add(&carry__export_wake, 1);
        carry__futex_wake(&carry__export_wake);
    }
}

/* ---- The exporter thread: the connection ---------------------------------- */

/* The collector's address, resolved once; the connection, kept alive
 * between requests, and its inode: a program that closes every fd may
 * have given the number to a file of its own, which carry must not
 * touch. */
/* The collector's addresses (a name may have several: ::1 and 127.0.0.1
 * for localhost), the one to try first, and whether they came from a
 * name, which is resolved again after a round in which none answered. */
#define CARRY__EXPORT_ADDRS 4
static struct sockaddr_storage carry__export_addrs[CARRY__EXPORT_ADDRS];
static socklen_t carry__export_addr_lens[CARRY__EXPORT_ADDRS];
static unsigned carry__export_addr_count, carry__export_addr_first;
static bool carry__export_addr_named;
static int carry__export_fd = -1;
static ino_t carry__export_ino;

/* Why a request failed, and whether it may be tried again. */
struct carry__outcome {
    int status;       /* the HTTP status; 0: none (a connection error) */
    int err;          /* the errno value of a connection error */
    uint64_t retry_after_ms; /* Retry-After, 0 if none */
};

/* Resolves the collector's host: an IP literal or, once, a name through
 * getaddrinfo (in this thread, which may block on DNS at no server's
 * expense).  False when it cannot be had now. */
static bool carry__export_resolve(struct carry__outcome *out)
{
    if (carry__export_addr_count != 0)
        return true;
    const struct carry__export_config *cfg = &carry__export_cfg;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&carry__export_addrs[0];
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&carry__export_addrs[0];
    carry__export_addr_first = 0;
    if (inet_pton(AF_INET, cfg->host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(cfg->port);
        carry__export_addr_lens[0] = sizeof *in4;
        carry__export_addr_count = 1;
    } else if (inet_pton(AF_INET6, cfg->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(cfg->port);
        carry__export_addr_lens[0] = sizeof *in6;
        carry__export_addr_count = 1;
    } else {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        char port[8];
        snprintf(port, sizeof port, "%u", cfg->port);
        int rc = getaddrinfo(cfg->host, port, &hints, &res);
        for (struct addrinfo *a = rc == 0 ? res : NULL;
             a != NULL && carry__export_addr_count < CARRY__EXPORT_ADDRS; a = a->ai_next) {
            if (a->ai_addrlen > sizeof carry__export_addrs[0])
                continue;
            memcpy(&carry__export_addrs[carry__export_addr_count], a->ai_addr, a->ai_addrlen);
            carry__export_addr_lens[carry__export_addr_count++] = a->ai_addrlen;
        }
        if (res != NULL)
            freeaddrinfo(res);
        if (carry__export_addr_count == 0) {
            carry__debug(1, "export: cannot resolve %s: %s", cfg->host,
                         rc != 0 ? gai_strerror(rc) : "no usable address");
            out->err = EHOSTUNREACH;
            return false;
        }
        carry__export_addr_named = true;
    }
    return true;
}

/* Lets go of the connection; one the program took over is left alone. */
static void carry__export_disconnect(void)
{
    struct stat st;
    if (carry__export_fd >= 0 && carry__sys(SYS_fstat, carry__export_fd, &st) == 0 &&
        st.st_ino == carry__export_ino)
        carry__sys(SYS_close, carry__export_fd);
    carry__export_fd = -1;
}

/* deadline, or the flush at exit's if that is sooner. */
static uint64_t carry__export_deadline(uint64_t deadline)
{
    uint64_t flush = atomic_load_explicit(&carry__export_flush_deadline, memory_order_acquire);
    return flush != 0 && flush < deadline ? flush : deadline;
}

/* Waits until fd is ready for events or the deadline passes, in slices so
 * that a flush at exit, which brings the deadline closer, is seen soon.
 * 0, or a negative errno value (-ETIMEDOUT). */
static int carry__export_poll(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = carry__mono_ns(), until = carry__export_deadline(deadline);
        if (now >= until)
            return -ETIMEDOUT;
        uint64_t wait = until - now;
        if (wait > CARRY__EXPORT_SLICE_MS * CARRY__NS_PER_MS)
            wait = CARRY__EXPORT_SLICE_MS * CARRY__NS_PER_MS;
        struct pollfd p = {.fd = fd, .events = events};
        struct timespec ts = {0, (long)wait};
        long rc = carry__sys(SYS_ppoll, &p, 1, &ts, NULL, 0);
        if (rc > 0)
            return 0;
        if (rc < 0 && rc != -EINTR)
            return (int)rc;
    }
}

/* A connection to one address; 0, or a negative errno value. */
static int carry__export_connect_to(const struct sockaddr_storage *addr, socklen_t addr_len,
                                    uint64_t deadline)
{
    struct stat st;
    long fd = carry__sys(SYS_socket, addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         0);
    if (fd < 0)
        return (int)fd;
    long rc = carry__sys(SYS_connect, fd, addr, addr_len);
    if (rc == -EINPROGRESS) {
        int err = 0;
        socklen_t len = sizeof err;
        rc = carry__export_poll((int)fd, POLLOUT, deadline);
        if (rc == 0)
            rc = carry__sys(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (rc == 0)
            rc = -err;
    }
    if (rc != 0) {
        carry__sys(SYS_close, fd);
        return (int)rc;
    }
    carry__sys(SYS_fstat, fd, &st);
    carry__export_fd = (int)fd;
    carry__export_ino = st.st_ino;
    return 0;
}

/* A connection to the collector, at the address that answered last, else
 * the next ones; 0, or a negative errno value. */
static int carry__export_connect(uint64_t deadline)
{
    struct stat st;
    if (carry__export_fd >= 0 &&
        (carry__sys(SYS_fstat, carry__export_fd, &st) != 0 || st.st_ino != carry__export_ino))
        carry__export_fd = -1; /* closed, or the program's now */
    if (carry__export_fd >= 0)
        return 0;
    int rc = -EHOSTUNREACH;
    for (unsigned tried = 0; tried < carry__export_addr_count && rc != -ETIMEDOUT; tried++) {
        unsigned i = carry__export_addr_first % carry__export_addr_count;
        rc = carry__export_connect_to(&carry__export_addrs[i], carry__export_addr_lens[i],
                                      deadline);
        if (rc == 0)
            return 0;
        carry__export_addr_first = i + 1;
    }
    /* None answered: a name may say otherwise by the next try. */
    if (carry__export_addr_named)
        carry__export_addr_count = 0;
    return rc;
}

/* Sends all of iov[0..n); 0, or a negative errno value. */
static int carry__export_send_all(struct iovec *iov, size_t n, uint64_t deadline)
{
    while (n > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n};
        long sent = carry__sys(SYS_sendmsg, carry__export_fd, &msg, MSG_NOSIGNAL);
        if (sent == -EAGAIN) {
            int rc = carry__export_poll(carry__export_fd, POLLOUT, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        if (sent < 0 && sent != -EINTR)
            return (int)sent;
        size_t done = sent > 0 ? (size_t)sent : 0;
        for (; n > 0 && done >= iov->iov_len; n--, iov++)
            done -= iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* The value of header name (lower case, with its colon) in the head's
 * lines, or NULL. */
static const char *carry__header_value(const char *head, const char *end, const char *name)
{
    size_t name_len = strlen(name);
    for (const char *line = head; line < end;) {
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        eol = eol ? eol : end;
        if ((size_t)(eol - line) > name_len && strncasecmp(line, name, name_len) == 0) {
            const char *v = line + name_len;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            return v;
        }
        line = eol + 2;
    }
    return NULL;
}

/*
 * Reads the answer to a request into *out.  The connection is kept only
 * when the answer's end is known (HTTP/1.1, a Content-Length, no
 * Connection: close).  0, or a negative errno value: -ECONNRESET when the
 * collector closed the connection without an answer.
 */
static int carry__export_read_answer(struct carry__outcome *out, uint64_t deadline)
{
    /* One byte more than is read, for the NUL that sscanf and strtoull
     * need to stop at. */
    char buf[4097];
    size_t len = 0;
    char *end;
    while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
        if (len == sizeof buf - 1)
            return -EPROTO;
        long n = carry__sys(SYS_recvfrom, carry__export_fd, buf + len, sizeof buf - 1 - len, 0,
                            NULL, NULL);
        if (n == -EAGAIN) {
            int rc = carry__export_poll(carry__export_fd, POLLIN, deadline);
            if (rc != 0)
                return rc;
        } else if (n == 0) {
            return len == 0 ? -ECONNRESET : -EPROTO;
        } else if (n < 0 && n != -EINTR) {
            return (int)n;
        } else if (n > 0) {
            len += (size_t)n;
            buf[len] = '\0';
        }
    }
    int minor, status;
    if (sscanf(buf, "HTTP/1.%1d %3d", &minor, &status) != 2)
        return -EPROTO;
    out->status = status;
    const char *retry = carry__header_value(buf, end, "retry-after:");
    if (retry != NULL && *retry >= '0' && *retry <= '9') {
        /* An hour at most: more would overflow, and the timeout cuts it. */
        unsigned long long seconds = strtoull(retry, NULL, 10);
        out->retry_after_ms = (seconds < 3600 ? seconds : 3600) * 1000;
    }
    const char *length = carry__header_value(buf, end, "content-length:");
    const char *connection = carry__header_value(buf, end, "connection:");
    uint64_t body = length ? strtoull(length, NULL, 10) : 0;
    size_t have = len - (size_t)(end + 4 - buf);
    bool keep = minor == 1 && length != NULL && body <= (1u << 20) &&
                carry__header_value(buf, end, "transfer-encoding:") == NULL &&
                (connection == NULL || strncasecmp(connection, "close", 5) != 0);
    /* The body (an ExportTraceServiceResponse) says nothing carry acts on:
     * read past it to keep the connection. */
    for (uint64_t left = body > have ? body - have : 0; keep && left > 0;) {
        long n = carry__sys(SYS_recvfrom, carry__export_fd, buf,
                            left < sizeof buf ? left : sizeof buf, 0, NULL, NULL);
        if (n > 0)
            left -= (uint64_t)n;
        else if (n == -EAGAIN)
            keep = carry__export_poll(carry__export_fd, POLLIN, deadline) == 0;
        else
            keep = n == -EINTR;
    }
    if (!keep)
        carry__export_disconnect();
    return 0;
}

static uint8_t carry__export_body[CARRY__EXPORT_BATCH * CARRY__SPAN_ENCODED_MAX + 4096];

/* One POST of the body (len bytes) into *out.  A kept-alive connection
 * that the collector closed in the meantime fails before any answer: the
 * request is made once more on a new one. */
static void carry__export_request(size_t len, struct carry__outcome *out, uint64_t deadline)
{
    const struct carry__export_config *cfg = &carry__export_cfg;
    char head[sizeof cfg->path + sizeof cfg->authority + sizeof cfg->headers + 256];
    int head_len = snprintf(head, sizeof head,
                            "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: carry/" CARRY_VERSION
                            "\r\nContent-Type: application/x-protobuf\r\n%sContent-Length: %zu"
                            "\r\n\r\n",
                            cfg->path, cfg->authority, cfg->headers, len);
    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = carry__export_fd >= 0;
        int rc = carry__export_connect(deadline);
        if (rc == 0) {
            struct iovec iov[2] = {{head, (size_t)head_len}, {carry__export_body, len}};
            rc = carry__export_send_all(iov, 2, deadline);
        }
        if (rc == 0)
            rc = carry__export_read_answer(out, deadline);
        if (rc == 0)
            return;
        carry__export_disconnect();
        out->err = -rc;
        if (!reused || rc == -ETIMEDOUT)
            return;
    }
}

static void carry__export_failed(size_t n, const struct carry__outcome *out)
{
    static _Atomic bool said;
    carry__count_add(&carry__stats.spans_failed, n);
    char why[96];
    if (out->status != 0)
        snprintf(why, sizeof why, "the collector answered %d", out->status);
    else
        snprintf(why, sizeof why, "%s", strerror(out->err ? out->err : ETIMEDOUT));
    if (!atomic_exchange(&said, true))
        carry__warn("cannot export spans to http://%s%s (%s): %zu dropped; later failures are "
                    "counted, not said (CARRY_DEBUG=1 says each)",
                    carry__export_cfg.authority, carry__export_cfg.path, why, n);
    else
        carry__debug(1, "export: %zu spans not sent (%s)", n, why);
}

/* Sends the body of n spans (len bytes): answers 2xx count them as
 * exported; 429, 502, 503, 504 and connection errors are tried again
 * after a back-off (Retry-After's, else 100 ms doubling up to 5 s) until
 * the timeout; anything else drops them. */
static void carry__export_send(size_t n, size_t len)
{
    uint64_t deadline = carry__mono_ns() + carry__export_cfg.timeout_ms * CARRY__NS_PER_MS;
    uint64_t backoff = CARRY__EXPORT_BACKOFF_MS * CARRY__NS_PER_MS;
    for (;;) {
        struct carry__outcome out = {0, ETIMEDOUT, 0};
        if (carry__mono_ns() < carry__export_deadline(deadline) && carry__export_resolve(&out))
            carry__export_request(len, &out, deadline);
        if (out.status >= 200 && out.status < 300) {
            carry__count_add(&carry__stats.spans_exported, n);
            return;
        }
        bool again = out.status == 0 || out.status == 429 || out.status == 502 ||
                     out.status == 503 || out.status == 504;
        uint64_t wait = out.retry_after_ms ? out.retry_after_ms * CARRY__NS_PER_MS : backoff;
        uint64_t now = carry__mono_ns();
        if (!again || now + wait >= carry__export_deadline(deadline)) {
            carry__export_failed(n, &out);
            return;
        }
        carry__debug(2, "export: %zu spans: %s; again in %llu ms", n,
                     out.status ? "the collector is busy" : strerror(out.err),
                     (unsigned long long)(wait / CARRY__NS_PER_MS));
        /* A flush at exit wakes this wait and brings the deadline closer:
         * the next turn fails the batch if it has passed. */
        carry__futex_wait(&carry__export_wake, atomic_load(&carry__export_wake), now + wait);
        backoff = backoff * 2 < CARRY__EXPORT_BACKOFF_MAX_MS * CARRY__NS_PER_MS
                      ? backoff * 2
                      : CARRY__EXPORT_BACKOFF_MAX_MS * CARRY__NS_PER_MS;
    }
}

/* ---- The exporter thread: the loop ------------------------------------------ */

static const struct carry__span *carry__export_batch[CARRY__EXPORT_BATCH];

static bool carry__export_committed(uint64_t pos)
{
    _Atomic uint64_t *seq = &carry__export_seq[pos & CARRY__EXPORT_MASK];
    if (atomic_load_explicit(seq, memory_order_acquire) != pos + 1)
        return false;
    CARRY__TSAN_ACQUIRE(seq);
    return true;
}

/* Takes up to a batch of committed spans in order, encodes them into the
 * body (*len: its length, 0 if it did not fit) and frees their slots;
 * how many it took. */
static size_t carry__export_take(size_t *len)
{
    uint64_t tail = atomic_load_explicit(&carry__export_tail, memory_order_relaxed);
    size_t n = 0;
    while (n < CARRY__EXPORT_BATCH && carry__export_committed(tail + n)) {
        carry__export_batch[n] = &carry__export_spans[(tail + n) & CARRY__EXPORT_MASK];
        n++;
    }
    if (n == 0)
        return 0;
    *len = carry__otlp_request(carry__export_body, sizeof carry__export_body, &carry__resource,
                               carry__sys(SYS_getpid), CARRY_VERSION, carry__export_batch, n);
    for (size_t i = 0; i < n; i++) {
        _Atomic uint64_t *seq = &carry__export_seq[(tail + i) & CARRY__EXPORT_MASK];
        CARRY__TSAN_RELEASE(seq);
        atomic_store_explicit(seq, tail + i + CARRY__EXPORT_SLOTS, memory_order_release);
    }
    atomic_store_explicit(&carry__export_tail, tail + n, memory_order_release);
    return n;
}

/* Sleeps until a batch is queued, a flush is asked for, or a tick
 * passes. */
static void carry__export_sleep(void)
{
    uint32_t seen = atomic_load(&carry__export_wake);
    atomic_store(&carry__export_sleeping, true);
    uint64_t tail = atomic_load_explicit(&carry__export_tail, memory_order_relaxed);
    if (!carry__export_committed(tail + CARRY__EXPORT_BATCH - 1) &&
        atomic_load(&carry__export_flush_deadline) == 0)
        carry__futex_wait(&carry__export_wake, seen,
                          carry__mono_ns() + CARRY__EXPORT_TICK_MS * CARRY__NS_PER_MS);
    atomic_store(&carry__export_sleeping, false);
}

static void *carry__exporter_main(void *arg)
{
    (void)arg;
    carry__sys(SYS_prctl, PR_SET_NAME, "carry-export", 0, 0, 0);
    bool flushed = false;
    for (;;) {
        size_t len = 0, n = carry__export_take(&len);
        if (n > 0 && len == 0) {
            struct carry__outcome out = {0, EMSGSIZE, 0};
            carry__export_failed(n, &out);
        } else if (n > 0) {
            carry__export_send(n, len);
        }
        if (n == CARRY__EXPORT_BATCH)
            continue;
        if (atomic_load_explicit(&carry__export_flush_deadline, memory_order_acquire) != 0) {
            if (n > 0)
                continue; /* until the queue is empty, or the deadline fails the rest */
            if (!flushed) {
                flushed = true;
                atomic_store(&carry__export_flushed, 1);
                carry__futex_wake(&carry__export_flushed);
            }
        }
        carry__export_sleep();
    }
    return NULL;
}

/* Starts the exporter with every signal blocked (the program's signals
 * are for its own threads), detached, through the real pthread_create:
 * no rule sees it, and it runs in no context. */
static void carry__exporter_start(void)
{
    carry__thread_create_fn *create = atomic_load(&carry__export_thread_create);
    int idle = CARRY__EXPORTER_IDLE;
    if (create == NULL ||
        !atomic_compare_exchange_strong(&carry__exporter_state, &idle, CARRY__EXPORTER_RUNNING))
        return;
    int saved_errno = errno;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int rc = create(&thread, &attr, carry__exporter_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_store(&carry__exporter_state, CARRY__EXPORTER_FAILED);
        carry__warn("cannot start the span exporter thread (%s); spans are dropped",
                    strerror(rc));
    }
    errno = saved_errno;
}

void carry__export_set_thread_create(carry__thread_create_fn *fn)
{
    atomic_store(&carry__export_thread_create, fn);
}

/* ---- Exit and fork ---------------------------------------------------------- */

/* Flushes what is queued, for min(timeout, 1 s) at most; the exporter
 * says when it is done, and is not waited for much past the deadline
 * (its waits are cut in slices of CARRY__EXPORT_SLICE_MS). */
static void carry__export_at_exit(void)
{
    if (atomic_load(&carry__exporter_state) != CARRY__EXPORTER_RUNNING)
        return;
    int saved_errno = errno;
    uint64_t budget = carry__export_cfg.timeout_ms < CARRY__EXPORT_EXIT_MS
                          ? carry__export_cfg.timeout_ms
                          : CARRY__EXPORT_EXIT_MS;
    uint64_t deadline = carry__mono_ns() + budget * CARRY__NS_PER_MS;
    atomic_store(&carry__export_flush_deadline, deadline);
    atomic_fetch_add(&carry__export_wake, 1);
    carry__futex_wake(&carry__export_wake);
    uint64_t give_up = deadline + 4 * CARRY__EXPORT_SLICE_MS * CARRY__NS_PER_MS;
    while (atomic_load(&carry__export_flushed) == 0 && carry__mono_ns() < give_up)
        carry__futex_wait(&carry__export_flushed, 0, give_up);
    errno = saved_errno;
}

void carry__export_init(carry__getenv_fn *getenv_fn)
{
    carry__export_parse(&carry__export_cfg, getenv_fn);
    if (!carry__export_cfg.on)
        return;
    carry__export_reset_queue();
    carry__export_configured = true;
    if (atexit(carry__export_at_exit) != 0)
        carry__warn("export: cannot register the flush at exit");
    carry__debug(1, "export: spans to http://%s%s", carry__export_cfg.authority,
                 carry__export_cfg.path);
}

void carry__export_atfork_child(void)
{
    if (!carry__export_configured)
        return;
    carry__export_reset_queue();
    /* The parent's socket, unless the program closed it and its fd now
     * holds something of the program's. */
    carry__export_disconnect();
    atomic_store(&carry__exporter_state, CARRY__EXPORTER_IDLE);
    atomic_store(&carry__export_sleeping, false);
    atomic_store(&carry__export_flush_deadline, 0);
    atomic_store(&carry__export_flushed, 0);
}
