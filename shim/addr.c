/* Socket addresses as text (addr.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "sys.h"

/* "00" to "99": two digits per division. */
static const char carry__digit_pairs[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Appends n (< 100000: a port, or an octet) in decimal at p; returns the
 * end.  One branch per width, so that an octet takes one division. */
static char *carry__put_decimal(char *p, unsigned n)
{
    if (n < 10) {
        *p = (char)('0' + n);
        return p + 1;
    }
    if (n < 100) {
        memcpy(p, carry__digit_pairs + 2 * n, 2);
        return p + 2;
    }
    if (n < 1000) {
        *p = (char)('0' + n / 100);
        memcpy(p + 1, carry__digit_pairs + 2 * (n % 100), 2);
        return p + 3;
    }
    if (n >= 10000) {
        *p++ = (char)('0' + n / 10000);
        n %= 10000;
    }
    memcpy(p, carry__digit_pairs + 2 * (n / 100), 2);
    memcpy(p + 2, carry__digit_pairs + 2 * (n % 100), 2);
    return p + 4;
}

/* An IPv4 address, dotted, at p; returns the end. */
static char *carry__put_ipv4(char *p, const unsigned char *ip)
{
    for (int i = 0; i < 4; i++) {
        if (i > 0)
            *p++ = '.';
        p = carry__put_decimal(p, ip[i]);
    }
    return p;
}

/* A group of an IPv6 address in lowercase hex, no leading zeros. */
static char *carry__put_group(char *p, unsigned g)
{
    int shift = 12;
    while (shift > 0 && (g >> shift) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        *p++ = "0123456789abcdef"[(g >> shift) & 0xf];
    return p;
}

/* An IPv6 address as inet_ntop writes it: the longest run of two or more
 * zero groups (the first of equals) as "::", and the last 32 bits of an
 * IPv4-mapped (::ffff:a.b.c.d) or -compatible (::a.b.c.d) address
 * dotted. */
static char *carry__put_ipv6(char *p, const unsigned char *a)
{
    unsigned groups[8];
    int run = -1, run_len = 1;
    for (int i = 0; i < 8; i++)
        groups[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    for (int i = 0, j; i < 8; i = j + 1) {
        for (j = i; j < 8 && groups[j] == 0; j++)
            continue;
        if (j - i > run_len) {
            run = i;
            run_len = j - i;
        }
    }
    for (int i = 0; i < 8; i++) {
        if (run >= 0 && i >= run && i < run + run_len) {
            if (i == run)
                *p++ = ':';
            continue;
        }
        if (i > 0)
            *p++ = ':';
        if (i == 6 && run == 0 && (run_len == 6 || (run_len == 5 && groups[5] == 0xffff)))
            return carry__put_ipv4(p, a + 12);
        p = carry__put_group(p, groups[i]);
    }
    if (run >= 0 && run + run_len == 8)
        *p++ = ':';
    return p;
}

/* Written by hand rather than with inet_ntop and snprintf: stdio would be
 * most of what formatting costs, and a crash report formats addresses in
 * a signal handler. */
size_t carry__addr_format(const struct sockaddr *sa, socklen_t len, char *buf)
{
    char *p = buf;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        p = carry__put_ipv4(p, (const unsigned char *)&in->sin_addr);
        *p++ = ':';
        p = carry__put_decimal(p, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        *p++ = '[';
        p = carry__put_ipv6(p, in6->sin6_addr.s6_addr);
        *p++ = ']';
        *p++ = ':';
        p = carry__put_decimal(p, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t path = len > offsetof(struct sockaddr_un, sun_path)
                          ? (size_t)len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (path > sizeof un->sun_path)
            path = sizeof un->sun_path;
        if (path == 0) {
            memcpy(p, "unix", 4);
            p += 4;
        } else if (un->sun_path[0] == '\0') {
            *p++ = '@';
            memcpy(p, un->sun_path + 1, path - 1);
            p += path - 1;
        } else {
            size_t n = strnlen(un->sun_path, path);
            memcpy(p, un->sun_path, n);
            p += n;
        }
    }
    *p = '\0';
    return (size_t)(p - buf);
}

size_t carry__addrs_format(const char *addrs, bool local, char *buf)
{
    size_t p = (unsigned char)addrs[0], len = (unsigned char)addrs[local ? 1 : 0];
    buf[0] = '\0';
    if (len == 0)
        return 0;
    /* Packed addresses are unaligned: formatted from an aligned copy. */
    struct sockaddr_storage ss;
    memcpy(&ss, addrs + 2 + (local ? p : 0), len);
    return carry__addr_format((struct sockaddr *)&ss, (socklen_t)len, buf);
}

bool carry__addr_wildcard(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

bool carry__addr_same(const struct sockaddr *a, socklen_t a_len, const struct sockaddr *b,
                      socklen_t b_len)
{
    if (a_len < (socklen_t)sizeof(sa_family_t) || b_len < (socklen_t)sizeof(sa_family_t) ||
        a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET && a_len >= (socklen_t)sizeof(struct sockaddr_in) &&
        b_len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6 && a_len >= (socklen_t)sizeof(struct sockaddr_in6) &&
        b_len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0 &&
               x->sin6_scope_id == y->sin6_scope_id;
    }
    return false;
}

bool carry__addr_local(int fd, struct sockaddr_storage *ss, socklen_t *len)
{
    return carry__sys(SYS_getsockname, fd, ss, len) == 0;
}
