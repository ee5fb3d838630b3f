/* CARRY_INHERIT=0: the environment filter used by the exec wrappers. */
#include <criterion/criterion.h>
#include <string.h>

#include "inherit.h"

static const char *filtered_preload(const char *preload)
{
    static char buf[256];
    static char *out[8];
    char *envp[] = {"A=1", (char *)preload, "B=2", NULL};
    char *const *env = carry__env_without_carry(envp, out, 8, buf, sizeof buf);
    if (env == envp)
        return "unchanged";
    cr_assert_str_eq(env[0], "A=1");
    if (strcmp(env[1], "B=2") == 0) {
        cr_assert_null(env[2]);
        return "removed";
    }
    cr_assert_str_eq(env[2], "B=2");
    cr_assert_null(env[3]);
    return env[1];
}

Test(inherit, filters_libcarry_out_of_ld_preload)
{
    cr_assert_str_eq(filtered_preload("LD_PRELOAD=/opt/build/libcarry.so"), "removed");
    cr_assert_str_eq(filtered_preload("LD_PRELOAD=/a.so:/b/libcarry.so /c.so"),
                     "LD_PRELOAD=/a.so:/c.so");
    cr_assert_str_eq(filtered_preload("LD_PRELOAD=libcarry.so.1::/d.so"), "LD_PRELOAD=/d.so");
    cr_assert_str_eq(filtered_preload("LD_PRELOAD=/a.so:/b.so"), "unchanged");
    cr_assert_str_eq(filtered_preload("LD_PRELOAD=/x/mylibcarry.so"), "unchanged");
    cr_assert_str_eq(filtered_preload("PATH=/bin"), "unchanged");
}

Test(inherit, too_little_room_leaves_the_environment_alone)
{
    char buf[8];
    char *out[2];
    char *envp[] = {"LD_PRELOAD=/a/long/path/libcarry.so:/another/long/path.so", NULL};
    cr_assert_eq(carry__env_without_carry(envp, out, 2, buf, sizeof buf), envp);
    char big[512];
    char *few[1];
    char *two[] = {"A=1", "LD_PRELOAD=libcarry.so", NULL};
    cr_assert_eq(carry__env_without_carry(two, few, 1, big, sizeof big), two);
}

Test(inherit, recognises_libcarry_paths)
{
    const char *yes[] = {"libcarry.so", "/usr/lib/x86_64-linux-gnu/libcarry.so.0", "./libcarry.so"};
    const char *no[] = {"/usr/lib/libc.so.6", "libcarry", "/libcarry.so/libc.so", "carry.so"};
    for (size_t i = 0; i < 3; i++)
        cr_assert(carry__is_carry_path(yes[i], strlen(yes[i])), "%s", yes[i]);
    for (size_t i = 0; i < 4; i++)
        cr_assert_not(carry__is_carry_path(no[i], strlen(no[i])), "%s", no[i]);
}
