/* Rule F's CARRY_INHERIT=0 (inherit.c). */
#ifndef CARRY_INHERIT_H
#define CARRY_INHERIT_H

#include "common.h"

/*
 * With CARRY_INHERIT=0: if envp's LD_PRELOAD names libcarry, fills out
 * (room for n_out pointers) with envp minus libcarry, using buf (size
 * buf_size) for the new LD_PRELOAD string, and returns out; else returns
 * envp.  Allocates nothing: safe in a vfork child.
 */
char *const *carry__env_without_carry(char *const *envp, char **out, size_t n_out,
                                      char *buf, size_t buf_size);
size_t carry__env_count(char *const *envp);
bool carry__inherit_strip(void);

/* Removes libcarry from this process's own LD_PRELOAD (CARRY_INHERIT=0), so
 * that every exec which passes environ runs without it. */
void carry__inherit_init(void);

/* Is this LD_PRELOAD entry libcarry? */
bool carry__is_carry_path(const char *entry, size_t len);

#endif /* CARRY_INHERIT_H */
