/*
 * CARRY_INHERIT=0: programs this process execs run without libcarry.
 *
 * The constructor removes libcarry from the process's own LD_PRELOAD, which
 * covers every exec that passes environ (execv, execvp, system, popen,
 * posix_spawn with environ...).  The exec wrappers that take an explicit
 * environment filter it too, without allocating, so that they stay safe in
 * a vfork child.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "inherit.h"

#define CARRY__PRELOAD "LD_PRELOAD="
#define CARRY__SEPARATORS ": "

bool carry__is_carry_path(const char *entry, size_t len)
{
    const char *base = entry;
    for (size_t i = 0; i < len; i++)
        if (entry[i] == '/')
            base = entry + i + 1;
    size_t base_len = len - (size_t)(base - entry);
    return base_len >= 11 && memcmp(base, "libcarry.so", 11) == 0;
}

/* Copies value minus libcarry's entries into buf (colon-separated).
 * Returns true if an entry was removed and the result fit. */
static bool carry__preload_filter(const char *value, char *buf, size_t size)
{
    bool removed = false;
    size_t out = 0;
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, CARRY__SEPARATORS);
        if (len > 0 && carry__is_carry_path(p, len)) {
            removed = true;
        } else if (len > 0) {
            if (out + len + 2 > size)
                return false;
            if (out > 0)
                buf[out++] = ':';
            memcpy(buf + out, p, len);
            out += len;
        }
        p += len;
        p += strspn(p, CARRY__SEPARATORS);
    }
    if (out + 1 > size)
        return false;
    buf[out] = '\0';
    return removed;
}

bool carry__inherit_strip(void)
{
    return carry__config.active && !carry__config.inherit;
}

size_t carry__env_count(char *const *envp)
{
    size_t n = 0;
    while (envp != NULL && envp[n] != NULL)
        n++;
    return n;
}

char *const *carry__env_without_carry(char *const *envp, char **out, size_t n_out, char *buf,
                                      size_t buf_size)
{
    size_t prefix = strlen(CARRY__PRELOAD);
    size_t n = carry__env_count(envp), at = n;
    for (size_t i = 0; i < n && at == n; i++)
        if (strncmp(envp[i], CARRY__PRELOAD, prefix) == 0)
            at = i;
    if (at == n || n + 1 > n_out || buf_size <= prefix)
        return envp;
    memcpy(buf, CARRY__PRELOAD, prefix);
    if (!carry__preload_filter(envp[at] + prefix, buf + prefix, buf_size - prefix))
        return envp;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i != at || buf[prefix] != '\0')
            out[k++] = i == at ? buf : envp[i];
    out[k] = NULL;
    return out;
}

void carry__inherit_init(void)
{
    const char *value = getenv("LD_PRELOAD");
    if (value == NULL)
        return;
    size_t size = strlen(value) + 1;
    char *buf = malloc(size);
    if (buf == NULL)
        return;
    if (carry__preload_filter(value, buf, size)) {
        if (buf[0] == '\0')
            unsetenv("LD_PRELOAD");
        else
            setenv("LD_PRELOAD", buf, 1);
    }
    free(buf);
}
