/*
 * Function names for crash reports, read from the ELF files themselves.
 * libunwind's unw_get_proc_name mallocs (1.6), and dladdr takes the
 * loader's lock: neither is safe in a signal handler.  This maps the file
 * and reads its symbol table with no allocation and no lock.
 */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "elf.h"
#include "sys.h"

void carry__elf_close(struct carry__elf *elf)
{
    if (elf->map != NULL)
        munmap((void *)elf->map, elf->size);
    elf->map = NULL;
    elf->path[0] = '\0';
}

static bool carry__elf_open(struct carry__elf *elf, const char *path)
{
    if (elf->map != NULL && strcmp(elf->path, path) == 0)
        return true;
    carry__elf_close(elf);
    size_t len = strlen(path);
    if (len >= sizeof elf->path)
        return false;
    int fd = (int)carry__sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(Elf64_Ehdr))
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    carry__sys(SYS_close, fd);
    if (map == MAP_FAILED)
        return false;
    memcpy(elf->path, path, len + 1);
    elf->map = map;
    elf->size = (size_t)st.st_size;
    return true;
}

/* n bytes at off in the file, or NULL if they are not all there. */
static const void *carry__elf_at(const struct carry__elf *elf, uint64_t off, uint64_t n)
{
    return off <= elf->size && n <= elf->size - off ? elf->map + off : NULL;
}

/* The ELF header, if the mapped file is a 64-bit ELF file carry can read. */
static const Elf64_Ehdr *carry__elf_header(const struct carry__elf *elf)
{
    const Elf64_Ehdr *eh = carry__elf_at(elf, 0, sizeof *eh);
    if (eh == NULL || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        eh->e_shentsize != sizeof(Elf64_Shdr))
        return NULL;
    return eh;
}

bool carry__elf_address(struct carry__elf *elf, const char *path, uint64_t off, uint64_t *addr)
{
    if (!carry__elf_open(elf, path))
        return false;
    const Elf64_Ehdr *eh = carry__elf_header(elf);
    if (eh == NULL)
        return false;
    const Elf64_Phdr *ph = carry__elf_at(elf, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof *ph);
    for (size_t i = 0; ph != NULL && i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && off >= ph[i].p_offset &&
            off - ph[i].p_offset < ph[i].p_filesz) {
            *addr = off - ph[i].p_offset + ph[i].p_vaddr;
            return true;
        }
    }
    return false;
}

/* The function of symbol table sh that holds addr. */
static bool carry__elf_lookup(const struct carry__elf *elf, const Elf64_Shdr *shdrs,
                              size_t count, const Elf64_Shdr *sh, uint64_t addr, char *name,
                              size_t size, uint64_t *offset)
{
    if (sh->sh_entsize != sizeof(Elf64_Sym) || sh->sh_link >= count)
        return false;
    const Elf64_Sym *syms = carry__elf_at(elf, sh->sh_offset, sh->sh_size);
    const Elf64_Shdr *strs = &shdrs[sh->sh_link];
    const char *str = carry__elf_at(elf, strs->sh_offset, strs->sh_size);
    if (syms == NULL || str == NULL)
        return false;
    for (size_t k = 0; k < sh->sh_size / sizeof *syms; k++) {
        const Elf64_Sym *s = &syms[k];
        unsigned type = ELF64_ST_TYPE(s->st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF ||
            addr < s->st_value || addr - s->st_value >= s->st_size || s->st_name >= strs->sh_size)
            continue;
        size_t len = strnlen(str + s->st_name, strs->sh_size - s->st_name);
        if (len >= size)
            len = size - 1;
        memcpy(name, str + s->st_name, len);
        name[len] = '\0';
        *offset = addr - s->st_value;
        return true;
    }
    return false;
}

bool carry__elf_symbol(const struct carry__elf *elf, uint64_t addr, char *name, size_t size,
                       uint64_t *offset)
{
    const Elf64_Ehdr *eh = carry__elf_header(elf);
    if (eh == NULL)
        return false;
    const Elf64_Shdr *sh = carry__elf_at(elf, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof *sh);
    /* .symtab names static functions too; a stripped file has .dynsym only. */
    static const uint32_t tables[] = {SHT_SYMTAB, SHT_DYNSYM};
    for (size_t t = 0; sh != NULL && t < 2; t++)
        for (size_t i = 0; i < eh->e_shnum; i++)
            if (sh[i].sh_type == tables[t] &&
                carry__elf_lookup(elf, sh, eh->e_shnum, &sh[i], addr, name, size, offset))
                return true;
    return false;
}
