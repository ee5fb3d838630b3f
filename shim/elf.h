/* Function names from ELF files, for crash reports (elf.c). */
#ifndef CARRY_ELF_H
#define CARRY_ELF_H

#include "common.h"

/* An ELF file mapped by carry__elf_address, kept for the next call. */
struct carry__elf {
    char path[512];
    const unsigned char *map;
    size_t size;
};

/* Maps the ELF file at path (or keeps it from the last call) and turns
 * file offset off into an address of the file's own layout: what its
 * symbols and addr2line use.  Allocates nothing and takes no lock: safe in
 * a signal handler, as is carry__elf_symbol. */
bool carry__elf_address(struct carry__elf *elf, const char *path, uint64_t off, uint64_t *addr);

/* The function of the mapped file that holds addr: its name (cut to size)
 * and addr's distance from its start. */
bool carry__elf_symbol(const struct carry__elf *elf, uint64_t addr, char *name, size_t size,
                       uint64_t *offset);
void carry__elf_close(struct carry__elf *elf);

#endif /* CARRY_ELF_H */
