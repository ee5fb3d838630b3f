/*
 * http_load: a fixed number of HTTP/1.1 GETs over one keep-alive
 * connection, one at a time, for scripts/bench/servers --count (wrk runs
 * for a time, not a count, and server_client keeps every reply).
 *
 *   http_load PORT REQUESTS [PATH]
 *
 * Sends "GET PATH HTTP/1.1" (default PATH /) to 127.0.0.1:PORT, the same
 * bytes every time, and reads each reply whole (its headers, then
 * Content-Length bytes of body) before the next.  Prints "requests=N" and
 * exits 0 when every reply was a 200 on the one connection; otherwise says
 * what went wrong and exits 1 (2 on bad usage).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static char buf[65536];
static size_t len; /* bytes in buf, read and not yet part of a reply */

static void die(const char *what)
{
    fprintf(stderr, "http_load: %s: %s\n", what, errno ? strerror(errno) : "unexpected reply");
    exit(1);
}

static void fill(int fd)
{
    if (len == sizeof buf) {
        errno = 0;
        die("reply too long");
    }
    ssize_t r = read(fd, buf + len, sizeof buf - len);
    if (r < 0 && errno == EINTR)
        return;
    if (r <= 0) {
        if (r == 0)
            errno = 0;
        die(r == 0 ? "connection closed" : "read");
    }
    len += (size_t)r;
}

/* Reads one reply; fails unless it is a 200 with a Content-Length. */
static void read_reply(int fd)
{
    char *end;
    while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
        fill(fd);
    size_t head = (size_t)(end - buf) + 4;
    errno = 0;
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
        die("status");
    long body = -1;
    for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2)
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            body = strtol(line + 15, NULL, 10);
    if (body < 0)
        die("no Content-Length");
    while (len < head + (size_t)body)
        fill(fd);
    len -= head + (size_t)body;
    memmove(buf, buf + head + (size_t)body, len);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: http_load PORT REQUESTS [PATH]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long requests = atol(argv[2]);
    if (port <= 0 || port > 65535 || requests <= 0) {
        fprintf(stderr, "usage: http_load PORT REQUESTS [PATH]\n");
        return 2;
    }
    char request[512];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: carry\r\n\r\n",
                     argc == 4 ? argv[3] : "/");
    if (n < 0 || (size_t)n >= sizeof request) {
        fprintf(stderr, "http_load: PATH too long\n");
        return 2;
    }

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Never hang on a server that stopped answering (callgrind's are slow,
     * not that slow). */
    struct timeval timeout = {.tv_sec = 30};
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("connect");

    for (long i = 0; i < requests; i++) {
        for (size_t sent = 0; sent < (size_t)n;) {
            ssize_t w = write(fd, request + sent, (size_t)n - sent);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                die("write");
            sent += (size_t)w;
        }
        read_reply(fd);
    }
    close(fd);
    printf("requests=%ld\n", requests);
    return 0;
}
