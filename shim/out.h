/*
 * A writer to stderr for signal handlers (out.c): a buffer on the caller's
 * stack flushed with raw writes; no malloc, no stdio, no lock.
 */
#ifndef CARRY_OUT_H
#define CARRY_OUT_H

#include "common.h"

struct carry__out {
    size_t len;
    bool broken; /* a write raised SIGPIPE */
    char buf[512];
};

void carry__out_start(struct carry__out *o);
void carry__out_bytes(struct carry__out *o, const char *s, size_t n);
void carry__out(struct carry__out *o, const char *s);

/* At least width hex digits, no prefix. */
void carry__out_hex(struct carry__out *o, uint64_t v, int width);
void carry__out_dec(struct carry__out *o, int64_t v);

/* Text from the program (keys, values, a thread's name) on one line:
 * control bytes become '?', long text is cut. */
void carry__out_text(struct carry__out *o, const char *s);

/* Ends the line and writes what is buffered. */
void carry__out_end(struct carry__out *o);

#endif /* CARRY_OUT_H */
