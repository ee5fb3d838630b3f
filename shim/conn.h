/* Rule C, the connections (conn.c). */
#ifndef CARRY_CONN_H
#define CARRY_CONN_H

#include <sys/socket.h>

#include "common.h"

/* fd was accepted on listen_fd from peer: it gets a new context, which
 * becomes the thread's current one (none when out of memory); with
 * requests (rule R), its reads take turns with its writes (request.h).
 * False when out of memory. */
bool carry__conn_accepted(int listen_fd, int fd, const struct sockaddr *peer, socklen_t peer_len,
                          bool requests);

/* fd was connected: an outbound fd, borrowed by whoever writes to it.
 * False when carry cannot follow it (out of memory or range). */
bool carry__conn_connected(int fd);

#endif /* CARRY_CONN_H */
