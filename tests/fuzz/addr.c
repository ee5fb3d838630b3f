/*
 * Fuzz target: the text of the keys peer and local (addr.h), which carry
 * writes by hand rather than with inet_ntop and snprintf.  The input is a
 * socket address as the kernel might give it (any family, any length up to
 * a sockaddr_storage, any bytes).  IPv4 and IPv6 addresses read exactly as
 * glibc's inet_ntop and the port's decimal make them; a socket path as its
 * bytes up to the first NUL, an abstract one after an '@'; every text fits
 * its buffer; and packed beside another address, each reads back the same.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "fuzz.h"

/* What the text of len bytes of sa must be, by glibc and the rules above;
 * NULL when the family is one carry does not name (its text is ""). */
static const char *want_text(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)sa;
        FUZZ_CHECK(inet_ntop(AF_INET, &in->sin_addr, host, sizeof host), "inet_ntop");
        snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        FUZZ_CHECK(inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host), "inet_ntop");
        snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const void *)sa;
        size_t path = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (path > sizeof un->sun_path)
            path = sizeof un->sun_path;
        if (path == 0)
            snprintf(out, cap, "unix");
        else if (un->sun_path[0] == '\0')
            snprintf(out, cap, "@%.*s", (int)path - 1, un->sun_path + 1);
        else
            snprintf(out, cap, "%.*s", (int)path, un->sun_path);
    } else {
        return NULL;
    }
    return out;
}

static void check_text(const char *what, const char *got, size_t got_len, const char *want)
{
    FUZZ_CHECK(got_len < CARRY__ADDR_MAX && strlen(got) <= got_len,
               "%s: %zu bytes in a buffer of %d", what, got_len, CARRY__ADDR_MAX);
    if (want == NULL) {
        FUZZ_CHECK(got[0] == '\0', "%s: %s for a family carry does not name", what, got);
        return;
    }
    /* A text read as a C string stops at its first NUL (an abstract
     * socket's name may hold one), as the key's value does. */
    FUZZ_CHECK(strcmp(got, want) == 0, "%s: %s, want %s", what, got, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* The first byte picks a family carry names (or leaves the input's
     * own), the rest is the address. */
    static const sa_family_t families[] = {AF_INET, AF_INET6, AF_UNIX};
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    size_t len = size - 1 < sizeof ss ? size - 1 : sizeof ss;
    memcpy(&ss, data + 1, len);
    if (data[0] % 4 < 3 && len >= sizeof(sa_family_t))
        ss.ss_family = families[data[0] % 4];
    const struct sockaddr *sa = (const struct sockaddr *)&ss;

    char want_buf[256], got[CARRY__ADDR_MAX + 1];
    const char *want = len >= sizeof(sa_family_t)
                           ? want_text(sa, (socklen_t)len, want_buf, sizeof want_buf)
                           : NULL;
    if (len >= sizeof(sa_family_t))
        check_text("format", got, carry__addr_format(sa, (socklen_t)len, got), want);

    /* Packed as a connection keeps it, beside a fixed local address. */
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(8080)};
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t packed_size = carry__addrs_size((socklen_t)len, sizeof local);
    char *packed = malloc(packed_size);
    FUZZ_CHECK(packed != NULL, "out of memory");
    carry__addrs_pack(packed, sa, (socklen_t)len, (const struct sockaddr *)&local, sizeof local);
    check_text("packed peer", got, carry__addrs_format(packed, false, got),
               carry__addrs_len((socklen_t)len) != 0 ? want : NULL);
    check_text("packed local", got, carry__addrs_format(packed, true, got), "127.0.0.1:8080");
    free(packed);
    return 0;
}
