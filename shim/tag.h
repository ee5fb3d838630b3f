/*
 * CARRY_TAG: every line the program writes to a tagged output starts with
 * "[carry <16 hex digits>] " when a context is current, and with
 * "[carry <request's id> <connection's id>] " when it is a request (rule
 * R: a context linked to its connection); with CARRY_TAG_FORMAT=otel,
 * "trace_id=<32 hex digits> span_id=<16 hex digits> " instead.  Raw writes are
 * tagged at the fd (one writev per write, here), stdio at the stream
 * (tagbuf.h: its flushes go through libc's internal write, which carry
 * never sees), and syslog in the message (tagstdio.h).  Which fd is stdout
 * or stderr is its number at the time of the write (fileno for a stream),
 * so a program that dup2s a file over fd 2 has its lines tagged there; an
 * fd that carry knows as a connection (rule C) is never tagged, whatever
 * its number.
 *
 * This module holds what the others share: which outputs are tagged, the
 * tag's text, and each tagged fd's line state.
 */
#ifndef CARRY_TAG_H
#define CARRY_TAG_H

#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "calls.h"
#include "common.h"
#include "config.h"
#include "current.h"
#include "watch.h"

/* "trace_id=" + 32 hex digits + " span_id=" + 16 hex digits + " "
 * (CARRY_TAG_FORMAT=otel) is the longest; "[carry " + 16 hex digits + " "
 * + 16 hex digits + "] " (a request's) takes 42. */
#define CARRY__TAG_MAX 67

/* Whose tag a line gets: a context's id (0: none, no tag), for a
 * request its connection's (else 0), and the trace-id's halves (for
 * CARRY_TAG_FORMAT=otel; else 0). */
typedef struct carry__tag_who {
    uint64_t id, conn, trace_hi, trace_lo;
} carry__tag_who;

static inline size_t carry__tag_len(carry__tag_who who)
{
    if (carry__config.tag_otel)
        return CARRY__TAG_MAX;
    return who.conn != 0 ? 42 : 25;
}

/* Sets carry__lines_watch from the configuration (at start-up). */
void carry__tag_start(void);

/* Writes the tag of who, carry__tag_len(who) bytes without a NUL, to out,
 * and returns that length. */
size_t carry__tag_format(char *out, carry__tag_who who);

bool carry__tag_fd_slow(int fd);

/* Are the lines written to fd tagged?  One predictable branch when
 * stdout and stderr are not. */
static inline bool carry__tag_fd(int fd)
{
    return CARRY__UNLIKELY(carry__config.tag & CARRY__TAG_FDS) && carry__tag_fd_slow(fd);
}

int carry__tag_file_slow(FILE *fp);

/* The fd (1 or 2) whose line state the stream fp writes to, or -1 when
 * its lines are not tagged (not a file stream, another fd,
 * wide-oriented).  Leaves errno alone. */
static inline int carry__tag_file(FILE *fp)
{
    if (CARRY__LIKELY(!(carry__config.tag & CARRY__TAG_FDS)))
        return -1;
    return carry__tag_file_slow(fp);
}

static inline bool carry__tag_syslog(void)
{
    return CARRY__UNLIKELY(carry__config.tag & CARRY__TAG_SYSLOG);
}

/* Whose tag the lines written now get: the current context's. */
carry__tag_who carry__tag_current(void);

/* ---- Line state of fds 1 and 2 ------------------------------------------- */

/* Is the next byte written to fd the first of a line? */
bool carry__tag_line_start(int fd);

/* Notes whether fd is mid-line now (a tag left half-written stays). */
void carry__tag_mark(int fd, bool mid);

/* Notes that the program wrote src (n bytes were written: the last one
 * tells whether fd is at a line start now). */
void carry__tag_noted(int fd, const struct iovec *src, int cnt, size_t n);

/* Back to line starts everywhere (tests). */
void carry__tag_reset(void);

/* ---- Raw writes ---------------------------------------------------------- */

/*
 * A write or writev of the program (src, cnt) to fd, which carry__tag_fd
 * accepted.  With id 0 and no tag left half-written on fd, plain(fd, src,
 * cnt) does it (the program's own call) and carry notes whether the line
 * ended.  Otherwise tags go in front of each line start, in the same
 * writev (tagged) as the program's bytes; the result counts the
 * program's bytes only.  A write with more lines than one writev holds
 * takes one writev per CARRY__TAG_PIECES / 2 lines.  A partial write is
 * returned as such; one that ends inside a tag leaves the rest of that tag
 * to be written first by the next write to fd, and is retried at once when
 * none of the program's bytes got out (a write never returns 0 for
 * carry's bytes alone).  With all, keeps writing until every byte is out
 * or an error (dprintf); then -1 on any error.
 */
ssize_t carry__tag_writev(int fd, const struct iovec *src, int cnt, carry__tag_who id,
                          carry__writev_fn *tagged, carry__writev_fn *plain, bool all);
#define CARRY__TAG_PIECES 64

#endif /* CARRY_TAG_H */
