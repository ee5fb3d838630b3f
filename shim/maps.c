/* The /proc/self/maps reader of crash reports; see maps.h. */
#include <fcntl.h>
#include <string.h>

#include "maps.h"
#include "sys.h"

static const char *carry__parse_hex(const char *p, uintptr_t *v)
{
    *v = 0;
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else
            return p;
        *v = *v << 4 | d;
    }
}

static const char *carry__skip_field(const char *p)
{
    while (*p != ' ' && *p != '\0')
        p++;
    while (*p == ' ')
        p++;
    return p;
}

/* One line of /proc/self/maps: "start-end perms offset dev inode path". */
static bool carry__maps_line(const char *line, uintptr_t pc, char *path, size_t size,
                             uintptr_t *offset)
{
    uintptr_t start, end, file_offset;
    const char *p = carry__parse_hex(line, &start);
    if (*p != '-')
        return false;
    p = carry__parse_hex(p + 1, &end);
    if (pc < start || pc >= end)
        return false;
    p = carry__skip_field(p);                         /* to perms */
    carry__parse_hex(p = carry__skip_field(p), &file_offset);
    p = carry__skip_field(carry__skip_field(carry__skip_field(p))); /* dev, inode */
    if (*p == '\0')
        return false; /* anonymous */
    size_t len = strlen(p) < size - 1 ? strlen(p) : size - 1;
    memcpy(path, p, len);
    path[len] = '\0';
    *offset = pc - start + file_offset;
    return true;
}

bool carry__maps_find(uintptr_t pc, char *path, size_t size, uintptr_t *offset)
{
    int fd = (int)carry__sys(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[2048];
    size_t have = 0;
    bool found = false, skipping = false;
    while (!found) {
        long n = carry__sys(SYS_read, fd, buf + have, sizeof buf - have - 1);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        char *line = buf, *nl;
        while (!found && (nl = memchr(line, '\n', (size_t)(buf + have - line))) != NULL) {
            *nl = '\0';
            found = !skipping && carry__maps_line(line, pc, path, size, offset);
            skipping = false;
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have == sizeof buf - 1) { /* a line longer than buf: skip the rest of it */
            have = 0;
            skipping = true;
        }
    }
    carry__sys(SYS_close, fd);
    return found;
}
