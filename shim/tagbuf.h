/*
 * CARRY_TAG at a stream: the program's bytes, formatted or copied into a
 * buffer with room for the tags, then written to the stream under its
 * lock, so that a tag and its line stay together whatever the buffering
 * and however many threads write.
 */
#ifndef CARRY_TAGBUF_H
#define CARRY_TAGBUF_H

#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>

#include "common.h"
#include "tag.h"

/*
 * The program's bytes on their way to a stream: kept at data +
 * CARRY__TAG_MAX, so that the first tag fits in front and the others are
 * inserted in place.  A stack buffer, moved to the heap only for outputs
 * larger than it.
 */
#define CARRY__TAG_STACK 4096
struct carry__tag_buf {
    char *data;
    size_t len; /* the program's bytes */
    size_t cap; /* bytes at data */
    char stack[CARRY__TAG_STACK];
};

void carry__tag_buf_init(struct carry__tag_buf *b);
/* For __attribute__((cleanup)): also frees when a cancelled thread
 * unwinds. */
void carry__tag_buf_free(struct carry__tag_buf *b);

/* Formats into b (vsnprintf, fortified as __vsnprintf_chk with flag > 0;
 * %m reads errno as it is on entry), NUL-terminated.  ap is left
 * untouched.  The length, or -1 and errno (ENOMEM, or the formatting
 * error). */
int carry__tag_buf_vformat(struct carry__tag_buf *b, int flag, const char *fmt, va_list ap);

/* Copies src into b; false with errno ENOMEM when it does not fit. */
bool carry__tag_buf_copy(struct carry__tag_buf *b, const struct iovec *src, int cnt);

/* For __attribute__((cleanup)): a stream locked with flockfile is
 * unlocked however its scope ends. */
static inline void carry__tag_unlock(FILE **fp)
{
    funlockfile(*fp);
}

/*
 * Writes b's bytes to fp, a stream of fd, under the stream's lock, with a
 * tag at each line start when id is not 0, and notes whether the line
 * ended.  The tags and the bytes go to the stream in one fwrite (one
 * write(2) on an unbuffered stream).  Returns how many of the program's
 * bytes were written: b->len, or fewer after an error (errno says which).
 */
size_t carry__tag_put(FILE *fp, int fd, struct carry__tag_buf *b, carry__tag_who id);

/* The same from the program's own buffers (fputs, fwrite, puts...). */
size_t carry__tag_put_copy(FILE *fp, int fd, const struct iovec *src, int cnt, carry__tag_who id);

#endif /* CARRY_TAGBUF_H */
