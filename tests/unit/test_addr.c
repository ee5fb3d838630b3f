/* Socket addresses as text, held against what libc's inet_ntop and
 * snprintf make of the same addresses. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

/* carry's text of sa (len bytes, family's address at ip) against libc's:
 * inet_ntop's, in brackets for IPv6, a colon and the port. */
static void expect_as_libc(const void *sa, socklen_t len, int family, const void *ip,
                           uint16_t port)
{
    char got[CARRY__ADDR_MAX], want[CARRY__ADDR_MAX], text[INET6_ADDRSTRLEN];
    size_t n = carry__addr_format(sa, len, got);
    inet_ntop(family, ip, text, sizeof text);
    if (family == AF_INET6)
        snprintf(want, sizeof want, "[%s]:%u", text, (unsigned)port);
    else
        snprintf(want, sizeof want, "%s:%u", text, (unsigned)port);
    cr_assert_str_eq(got, want);
    cr_assert_eq(n, strlen(want), "the length returned is the text's");
}

static void expect_ipv4(uint32_t ip, uint16_t port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
    in.sin_addr.s_addr = htonl(ip);
    expect_as_libc(&in, sizeof in, AF_INET, &in.sin_addr, port);
}

Test(addr, ipv4_every_octet_and_port_width)
{
    static const unsigned octets[] = {0, 1, 9, 10, 11, 42, 99, 100, 101, 109, 110, 199, 200, 250, 255};
    static const uint16_t ports[] = {0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 54321, 65535};
    size_t no = sizeof octets / sizeof octets[0], np = sizeof ports / sizeof ports[0];
    for (size_t a = 0; a < no; a++)
        for (size_t b = 0; b < np; b++) {
            uint32_t ip = octets[a] << 24 | octets[(a + 3) % no] << 16 |
                          octets[(a + 7) % no] << 8 | octets[(b + a) % no];
            expect_ipv4(ip, ports[b]);
        }
}

Test(addr, ipv4_every_octet_value)
{
    for (uint32_t v = 0; v < 256; v++)
        expect_ipv4(v << 24 | v << 16 | (255 - v) << 8 | v, (uint16_t)(v * 257));
}

Test(addr, ipv6_in_brackets)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080)};
    inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
    char got[CARRY__ADDR_MAX];
    cr_assert_eq(carry__addr_format((struct sockaddr *)&in6, sizeof in6, got), 18);
    cr_assert_str_eq(got, "[2001:db8::1]:8080");
}

static void expect_ipv6(const unsigned char bytes[16], uint16_t port)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    memcpy(&in6.sin6_addr, bytes, 16);
    expect_as_libc(&in6, sizeof in6, AF_INET6, &in6.sin6_addr, port);
}

/* Every shape inet_ntop gives an IPv6 address: runs of zero groups of
 * every length at every place (the longest, the first of equals, only
 * from two groups up, as "::"), groups of every width, and the IPv4
 * addresses it writes dotted (mapped, ::ffff:a.b.c.d, and compatible,
 * ::a.b.c.d, but not ::1 or ::). */
Test(addr, ipv6_as_inet_ntop_writes_it)
{
    static const uint16_t groups[] = {0x1, 0xf, 0x10, 0xab, 0x100, 0xfff, 0x1000, 0xffff, 0x2001};
    unsigned char bytes[16];
    for (unsigned mask = 0; mask < 256; mask++) {
        for (int i = 0; i < 8; i++) {
            uint16_t g = mask & (1u << i) ? 0 : groups[(mask + (unsigned)i * 5) % 9];
            bytes[2 * i] = (unsigned char)(g >> 8);
            bytes[2 * i + 1] = (unsigned char)g;
        }
        expect_ipv6(bytes, (uint16_t)(mask * 251));
        /* The same with the last 32 bits as an IPv4 address's, and the
         * sixth group 0xffff (mapped). */
        memcpy(bytes + 12, "\x0a\x00\x00\x01", 4);
        expect_ipv6(bytes, 80);
        bytes[10] = bytes[11] = 0xff;
        expect_ipv6(bytes, 443);
    }
}

Test(addr, unix_paths_abstract_and_unnamed)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    char got[CARRY__ADDR_MAX];
    strcpy(un.sun_path, "/run/app.sock");
    cr_assert_eq(carry__addr_format((struct sockaddr *)&un, sizeof un, got), 13);
    cr_assert_str_eq(got, "/run/app.sock");
    memcpy(un.sun_path, "\0hidden", 7);
    carry__addr_format((struct sockaddr *)&un, offsetof(struct sockaddr_un, sun_path) + 7, got);
    cr_assert_str_eq(got, "@hidden");
    carry__addr_format((struct sockaddr *)&un, sizeof(sa_family_t), got);
    cr_assert_str_eq(got, "unix");
}

Test(addr, a_short_or_unknown_address_is_empty)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    char got[CARRY__ADDR_MAX] = "x";
    cr_assert_eq(carry__addr_format((struct sockaddr *)&in, sizeof in - 1, got), 0);
    cr_assert_str_eq(got, "");
    struct sockaddr sa = {.sa_family = AF_PACKET};
    carry__addr_format(&sa, sizeof sa, got);
    cr_assert_str_eq(got, "");
}

/* Packed addresses (a connection's, kept raw until read) format as the
 * addresses themselves do, each on its own; one too short to hold a
 * family packs as none, and one longer than any address is cut to a
 * sockaddr_storage. */
Test(addr, packed_addresses_format_as_the_addresses_do)
{
    struct sockaddr_in6 peer = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "2001:db8::1", &peer.sin6_addr);
    struct sockaddr_un local = {.sun_family = AF_UNIX};
    strcpy(local.sun_path, "/run/app.sock");
    socklen_t local_len = offsetof(struct sockaddr_un, sun_path) + 14;
    size_t size = carry__addrs_size(sizeof peer, local_len);
    cr_assert_eq(size, 2 + sizeof peer + local_len);
    char packed[CARRY__ADDRS_MAX], got[CARRY__ADDR_MAX], want[CARRY__ADDR_MAX];
    memset(packed, 0x5a, sizeof packed);
    carry__addrs_pack(packed, (struct sockaddr *)&peer, sizeof peer, (struct sockaddr *)&local,
                      local_len);
    cr_assert_eq((unsigned char)packed[size], 0x5a, "nothing written past its size");
    size_t len = carry__addr_format((struct sockaddr *)&peer, sizeof peer, want);
    cr_assert_eq(carry__addrs_format(packed, false, got), len);
    cr_assert_str_eq(got, want);
    cr_assert_str_eq(want, "[2001:db8::1]:443");
    cr_assert_eq(carry__addrs_format(packed, true, got), 13);
    cr_assert_str_eq(got, "/run/app.sock");

    /* A peer too short for a family, a local address longer than any. */
    cr_assert_eq(carry__addrs_size(1, 1000), 2 + sizeof(struct sockaddr_storage));
    struct sockaddr_storage big = {.ss_family = AF_INET};
    ((struct sockaddr_in *)&big)->sin_port = htons(80);
    carry__addrs_pack(packed, (struct sockaddr *)&peer, 1, (struct sockaddr *)&big, 1000);
    strcpy(got, "x");
    cr_assert_eq(carry__addrs_format(packed, false, got), 0);
    cr_assert_str_eq(got, "");
    cr_assert_eq(carry__addrs_format(packed, true, got), 10);
    cr_assert_str_eq(got, "0.0.0.0:80");
}
