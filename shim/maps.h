/* Which file is mapped where, from /proc/self/maps (maps.c). */
#ifndef CARRY_MAPS_H
#define CARRY_MAPS_H

#include "common.h"

/* The file mapped at pc (its path cut to size) and pc's offset in it.
 * Raw system calls on a stack buffer: safe in a signal handler, where
 * dladdr is not (it takes the loader's lock). */
bool carry__maps_find(uintptr_t pc, char *path, size_t size, uintptr_t *offset);

#endif /* CARRY_MAPS_H */
