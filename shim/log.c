/* carry's own diagnostics: one raw write(2) per line (sys.h), so that no
 * wrapper of carry's and no stdio lock of the host is involved. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "sys.h"

int carry__debug_level;
static carry__warn_sink_fn *carry__warn_sink;

void carry__set_warn_sink(carry__warn_sink_fn *sink)
{
    carry__warn_sink = sink;
}

void carry__warn(const char *fmt, ...)
{
    char line[512] = "carry: ";
    size_t len = 7;
    va_list ap;
    /* Debug lines come from paths that leave the program's errno alone. */
    int saved_errno = errno;
    va_start(ap, fmt);
    int n = vsnprintf(line + len, sizeof line - len - 1, fmt, ap);
    va_end(ap);
    errno = saved_errno;
    if (n < 0)
        return;
    len += (size_t)n < sizeof line - len - 1 ? (size_t)n : sizeof line - len - 2;
    line[len++] = '\n';
    if (carry__warn_sink) {
        carry__warn_sink(line, len);
        return;
    }
    carry__sys(SYS_write, 2, line, len);
}

void carry__invariant_broken(const char *what, const char *file, int line)
{
    carry__warn("internal invariant broken at %s:%d: %s", file, line, what);
    abort();
}
