/*
 * CARRY_TAG for the program's printf, dprintf, fputs, puts, fwrite, fputc,
 * perror and syslog calls (tagstdio.c): whether carry writes the line
 * itself, tagged, or the real function does.  hooks.c calls these once it
 * knows the output is tagged: fd is the one a stream writes to
 * (carry__tag_file) or dprintf's own (carry__tag_fd).
 */
#ifndef CARRY_TAGSTDIO_H
#define CARRY_TAGSTDIO_H

#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>

#include "common.h"
#include "calls.h"

int carry__tag_vfprintf(FILE *fp, int fd, int flag, const char *fmt, va_list ap,
                        carry__vfprintf_fn *real);
int carry__tag_vdprintf(int fd, int flag, const char *fmt, va_list ap, carry__vdprintf_fn *real,
                        carry__writev_fn *real_writev);
bool carry__tag_fput(FILE *fp, int fd, const struct iovec *bytes, int cnt, carry__put_fn *real,
                     void *call, size_t *done);
void carry__tag_perror(FILE *fp, int fd, const char *s, void (*real)(const char *s));

/* syslog is tagged (carry__tag_syslog). */
void carry__tag_vsyslog(int pri, int flag, const char *fmt, va_list ap, carry__vsyslog_fn *real);

#endif /* CARRY_TAGSTDIO_H */
