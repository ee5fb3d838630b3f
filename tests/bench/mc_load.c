/*
 * mc_load: a closed-loop load generator for memcached's text protocol, for
 * scripts/bench/servers (memaslap, Debian's memcaslap, reports no latency
 * percentile finer than powers of two).
 *
 *   mc_load PORT CONNS REQUESTS [--keys K] [--value-size B] [--set-percent P]
 *
 * CONNS connections on 127.0.0.1:PORT, each with one request in flight,
 * REQUESTS in all, from one thread (epoll).  The requests are a fixed
 * sequence: the first K set each key once (key:0 ... key:K-1, B bytes of
 * value), then P % sets and the rest gets of keys picked by a fixed
 * pseudo-random sequence (defaults: K 1000, B 100, P 10).  Every reply is
 * checked (a set must be STORED, a get of a key set before must return
 * its B-byte value).
 *
 * Prints "requests=N seconds=S rps=R p99_ms=P" (latency from a request's
 * write to the end of its reply) and exits 0 when every request was
 * answered as expected; otherwise says what went wrong and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_VALUE 4096

struct conn {
    int fd;
    int is_get;       /* the request in flight is a get */
    int expect_value; /* ... of a key set before */
    int initial;      /* one of the first --keys requests */
    uint64_t sent_ns;
    size_t len;
    char buf[MAX_VALUE + 256];
};

static long total, issued, done, errors;
static long initial_done; /* answered of the first --keys requests */
static unsigned keys = 1000, value_size = 100, set_percent = 10;
static char value[MAX_VALUE];
static uint64_t *latencies;
static uint64_t rng = 0x9e3779b97f4a7c15u;

static void die(const char *what)
{
    fprintf(stderr, "mc_load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64: the same sequence every run. */
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static void send_request(struct conn *c)
{
    char req[MAX_VALUE + 128];
    int n;
    long i = issued++;
    unsigned key;
    int set;
    if (i < (long)keys) {
        key = (unsigned)i;
        set = 1;
    } else {
        uint64_t r = next_random();
        key = (unsigned)(r % keys);
        set = (r >> 32) % 100 < set_percent;
    }
    if (set) {
        n = snprintf(req, sizeof req, "set key:%u 0 0 %u\r\n", key, value_size);
        memcpy(req + n, value, value_size);
        n += (int)value_size;
        memcpy(req + n, "\r\n", 2);
        n += 2;
    } else {
        n = snprintf(req, sizeof req, "get key:%u\r\n", key);
    }
    c->is_get = !set;
    c->initial = i < (long)keys;
    /* The first requests set every key, but other connections may send
     * gets before they are all answered: only a get sent after that must
     * hit. */
    c->expect_value = !set && initial_done >= (long)keys;
    c->len = 0;
    c->sent_ns = now_ns();
    write_all(c->fd, req, (size_t)n);
}

/* Returns 1 once c->buf holds a whole reply (and checks it), else 0. */
static int reply_complete(struct conn *c)
{
    const char *b = c->buf;
    size_t n = c->len;
    if (!c->is_get) {
        if (n < 2 || b[n - 2] != '\r' || b[n - 1] != '\n')
            return 0;
        if (n != 8 || memcmp(b, "STORED\r\n", 8) != 0) {
            if (errors++ < 5)
                fprintf(stderr, "mc_load: set answered %.*s", (int)n, b);
        }
        return 1;
    }
    if (n < 5 || memcmp(b + n - 5, "END\r\n", 5) != 0)
        return 0;
    if (n == 5) {
        if (c->expect_value && errors++ < 5)
            fprintf(stderr, "mc_load: a get missed a key set before\n");
        return 1;
    }
    /* "VALUE key:K 0 B\r\n" + B bytes + "\r\nEND\r\n" */
    const char *eol = memchr(b, '\n', n);
    unsigned flags, bytes;
    char key[64];
    if (eol == NULL || sscanf(b, "VALUE %63s %u %u", key, &flags, &bytes) != 3)
        return 0;
    size_t want = (size_t)(eol + 1 - b) + bytes + 7;
    if (n < want)
        return 0; /* the value itself ended in "END\r\n": read on */
    if (n != want || bytes != value_size || memcmp(eol + 1, value, value_size) != 0) {
        if (errors++ < 5)
            fprintf(stderr, "mc_load: a get answered a wrong value\n");
    }
    return 1;
}

static int compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static unsigned parse_uint(const char *opt, const char *s, unsigned max)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v > max) {
        fprintf(stderr, "mc_load: %s takes a number up to %u, not '%s'\n", opt, max, s);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: mc_load PORT CONNS REQUESTS [--keys K] [--value-size B] "
                        "[--set-percent P]\n");
        return 2;
    }
    int port = (int)parse_uint("PORT", argv[1], 65535);
    int conns = (int)parse_uint("CONNS", argv[2], 10000);
    total = (long)parse_uint("REQUESTS", argv[3], 1000000000);
    for (int i = 4; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "mc_load: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--keys") == 0)
            keys = parse_uint(argv[i], argv[i + 1], 1000000);
        else if (strcmp(argv[i], "--value-size") == 0)
            value_size = parse_uint(argv[i], argv[i + 1], MAX_VALUE);
        else if (strcmp(argv[i], "--set-percent") == 0)
            set_percent = parse_uint(argv[i], argv[i + 1], 100);
        else {
            fprintf(stderr, "mc_load: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (conns < 1 || total < 1 || keys < 1) {
        fprintf(stderr, "mc_load: CONNS, REQUESTS and --keys must be positive\n");
        return 2;
    }
    for (unsigned i = 0; i < value_size; i++)
        value[i] = (char)('a' + i % 26);
    latencies = calloc((size_t)total, sizeof *latencies);
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    if (latencies == NULL || cs == NULL)
        die("calloc");

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    for (int i = 0; i < conns; i++) {
        cs[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (cs[i].fd < 0)
            die("socket");
        if (connect(cs[i].fd, (struct sockaddr *)&addr, sizeof addr) != 0)
            die("connect");
        int one = 1;
        setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0)
            die("epoll_ctl");
    }

    uint64_t start = now_ns();
    for (int i = 0; i < conns && issued < total; i++)
        send_request(&cs[i]);
    struct epoll_event events[256];
    while (done < total) {
        int n = epoll_wait(epfd, events, 256, 10000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0) {
            fprintf(stderr, "mc_load: no reply for 10 s: %ld of %ld answered\n", done, total);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (got <= 0) {
                if (got < 0 && errno == EINTR)
                    continue;
                fprintf(stderr, "mc_load: the server closed a connection (%s)\n",
                        got < 0 ? strerror(errno) : "end of file");
                return 1;
            }
            c->len += (size_t)got;
            if (!reply_complete(c)) {
                if (c->len == sizeof c->buf) {
                    fprintf(stderr, "mc_load: a reply longer than %zu bytes\n", sizeof c->buf);
                    return 1;
                }
                continue;
            }
            latencies[done++] = now_ns() - c->sent_ns;
            initial_done += c->initial;
            if (issued < total)
                send_request(c);
        }
    }
    double seconds = (double)(now_ns() - start) / 1e9;
    qsort(latencies, (size_t)done, sizeof *latencies, compare);
    printf("requests=%ld seconds=%.3f rps=%.0f p99_ms=%.3f\n", done, seconds,
           (double)done / seconds, (double)latencies[done * 99 / 100] / 1e6);
    for (int i = 0; i < conns; i++)
        close(cs[i].fd);
    free(cs);
    free(latencies);
    if (errors > 0) {
        fprintf(stderr, "mc_load: %ld wrong replies\n", errors);
        return 1;
    }
    return 0;
}
