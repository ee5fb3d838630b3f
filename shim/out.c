/* The signal-safe writer of crash reports; see out.h. */
#include <string.h>

#include "out.h"
#include "sys.h"

#define CARRY__SHOWN 200 /* bytes of program text shown */

void carry__out_start(struct carry__out *o)
{
    o->len = 0;
    o->broken = false;
}

static void carry__out_flush(struct carry__out *o)
{
    for (size_t done = 0; done < o->len;) {
        long n = carry__sys(SYS_write, 2, o->buf + done, o->len - done);
        if (n == -EINTR)
            continue;
        if (n == -EPIPE)
            o->broken = true;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    o->len = 0;
}

void carry__out_bytes(struct carry__out *o, const char *s, size_t n)
{
    while (n > 0) {
        if (o->len == sizeof o->buf)
            carry__out_flush(o);
        size_t k = sizeof o->buf - o->len < n ? sizeof o->buf - o->len : n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

void carry__out(struct carry__out *o, const char *s)
{
    carry__out_bytes(o, s, strlen(s));
}

void carry__out_hex(struct carry__out *o, uint64_t v, int width)
{
    char d[16];
    int n = 0;
    do {
        d[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0 || n < width);
    while (n > 0)
        carry__out_bytes(o, &d[--n], 1);
}

void carry__out_dec(struct carry__out *o, int64_t v)
{
    char d[20];
    int n = 0;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        d[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        carry__out(o, "-");
    while (n > 0)
        carry__out_bytes(o, &d[--n], 1);
}

void carry__out_text(struct carry__out *o, const char *s)
{
    size_t i = 0;
    for (; s[i] != '\0' && i < CARRY__SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];
        carry__out_bytes(o, c < 0x20 || c == 0x7f ? "?" : &s[i], 1);
    }
    if (s[i] != '\0')
        carry__out(o, "...");
}

void carry__out_end(struct carry__out *o)
{
    carry__out(o, "\n");
    carry__out_flush(o);
}
