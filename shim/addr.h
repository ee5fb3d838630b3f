/* Socket addresses as the text of the keys peer and local (addr.c). */
#ifndef CARRY_ADDR_H
#define CARRY_ADDR_H

#include <sys/socket.h>

#include "common.h"

#define CARRY__ADDR_MAX 128

/* "ip:port", "[ip6]:port", a socket path, "@abstract" or "unix", in buf of
 * CARRY__ADDR_MAX bytes; "" for what it cannot name. */
void carry__addr_format(const struct sockaddr *sa, socklen_t len, char *buf);

/* Does sa name every address of its family (0.0.0.0, ::)? */
bool carry__addr_wildcard(const struct sockaddr *sa);

#endif /* CARRY_ADDR_H */
