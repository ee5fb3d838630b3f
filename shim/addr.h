/* Socket addresses as the text of the keys peer and local (addr.c). */
#ifndef CARRY_ADDR_H
#define CARRY_ADDR_H

#include <sys/socket.h>

#include "common.h"

#define CARRY__ADDR_MAX 128

/* A socket address as the kernel gave it: len bytes of ss. */
struct carry__sockaddr {
    socklen_t len;
    struct sockaddr_storage ss;
};

/* fd's local address into ss (len: its size in, the address's out); false
 * when the kernel gives none.  A raw system call: getsockname is one of
 * libcarry's own wrappers, which the core never calls. */
bool carry__addr_local(int fd, struct sockaddr_storage *ss, socklen_t *len);

/* "ip:port", "[ip6]:port", a socket path, "@abstract" or "unix", in buf of
 * CARRY__ADDR_MAX bytes; "" for what it cannot name.  Returns its length. */
size_t carry__addr_format(const struct sockaddr *sa, socklen_t len, char *buf);

/* Does sa name every address of its family (0.0.0.0, ::)? */
bool carry__addr_wildcard(const struct sockaddr *sa);

/* Do a and b name the same IPv4 or IPv6 address and port (the padding of
 * a sockaddr_in aside)?  False for other families. */
bool carry__addr_same(const struct sockaddr *a, socklen_t a_len, const struct sockaddr *b,
                      socklen_t b_len);

/*
 * The addresses of a connection or a datagram (rules C and R), kept as
 * the kernel gave them in its context and formatted as the keys peer and
 * local only when one is read: formatting both costs more than the rest
 * of an accept.  Packed: one byte with each length, then the two
 * addresses, each of at most sizeof(struct sockaddr_storage) bytes.
 */
#define CARRY__ADDRS_MAX (2 + 2 * sizeof(struct sockaddr_storage))

/* A length as packed: none for what holds no family, at most a
 * sockaddr_storage. */
static inline size_t carry__addrs_len(socklen_t len)
{
    if (len < (socklen_t)sizeof(sa_family_t))
        return 0;
    return len < (socklen_t)sizeof(struct sockaddr_storage) ? (size_t)len
                                                              : sizeof(struct sockaddr_storage);
}

/* Bytes the addresses take packed; an address whose length is too short
 * to hold a family packs as none. */
static inline size_t carry__addrs_size(socklen_t peer_len, socklen_t local_len)
{
    return 2 + carry__addrs_len(peer_len) + carry__addrs_len(local_len);
}

/* Packs peer and local at out, carry__addrs_size bytes (a length of 0:
 * none, and the address may be NULL).  Inline: every accept packs. */
static inline void carry__addrs_pack(char *out, const struct sockaddr *peer, socklen_t peer_len,
                                     const struct sockaddr *local, socklen_t local_len)
{
    size_t p = carry__addrs_len(peer_len), l = carry__addrs_len(local_len);
    out[0] = (char)p;
    out[1] = (char)l;
    carry__copy(out + 2, (const char *)peer, p);
    carry__copy(out + 2 + p, (const char *)local, l);
}

/* The text of packed addrs' local address (else its peer's) in buf, of
 * CARRY__ADDR_MAX bytes, as carry__addr_format writes it; its length, 0
 * when there is none or it has no text. */
size_t carry__addrs_format(const char *addrs, bool local, char *buf);

#endif /* CARRY_ADDR_H */
