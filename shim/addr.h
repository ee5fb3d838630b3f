/* Socket addresses as the text of the keys peer and local (addr.c). */
#ifndef CARRY_ADDR_H
#define CARRY_ADDR_H

#include <sys/socket.h>

#include "common.h"

#define CARRY__ADDR_MAX 128

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

#endif /* CARRY_ADDR_H */
