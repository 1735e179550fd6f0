/* elfkind.c: reading just enough of an ELF file to tell static, Go and dynamic programs apart.
 * See elfkind.h. Only the file's own class is read (64-bit here); anything unexpected is
 * ELF_UNKNOWN, which the caller treats as "use the shim". */
#define _GNU_SOURCE
#include "elfkind.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool read_at(int fd, void *buf, size_t len, off_t offset)
{
    return pread(fd, buf, len, offset) == (ssize_t)len;
}

/* The command's path as execvp would find it, in `out`. */
static bool resolve(const char *command, char *out, size_t size)
{
    if (strchr(command, '/'))
        return snprintf(out, size, "%s", command) < (int)size;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        if (snprintf(out, size, "%.*s/%s", (int)len, len ? path : ".", command) < (int)size &&
            access(out, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

/* `count` entries of `size` bytes at `offset`, in one read (a reload reads every table anew:
 * one pread per entry cost a Go binary's 50 sections 100 system calls). NULL if unreadable. */
static void *read_table(int fd, Elf64_Off offset, size_t count, size_t size)
{
    if (count == 0)
        return NULL;
    void *table = malloc(count * size);
    if (table && !read_at(fd, table, count * size, (off_t)offset)) {
        free(table);
        table = NULL;
    }
    return table;
}

static bool has_interpreter(int fd, const Elf64_Ehdr *eh)
{
    Elf64_Phdr *ph = read_table(fd, eh->e_phoff, eh->e_phnum, sizeof *ph);
    bool found = false;
    for (int i = 0; ph && !found && i < eh->e_phnum; i++)
        found = ph[i].p_type == PT_INTERP;
    free(ph);
    return found;
}

/* A section named .go.buildinfo: every Go binary since 1.13 has one. */
static bool is_go(int fd, const Elf64_Ehdr *eh)
{
    static const char wanted[] = ".go.buildinfo";
    if (eh->e_shstrndx == SHN_UNDEF || eh->e_shstrndx >= eh->e_shnum)
        return false;
    Elf64_Shdr *sh = read_table(fd, eh->e_shoff, eh->e_shnum, sizeof *sh);
    /* the section names: a few hundred bytes in any program; more than 1 MiB is not one */
    char *names = sh && sh[eh->e_shstrndx].sh_size <= (1 << 20)
                      ? read_table(fd, sh[eh->e_shstrndx].sh_offset, sh[eh->e_shstrndx].sh_size, 1)
                      : NULL;
    size_t names_size = names ? sh[eh->e_shstrndx].sh_size : 0;
    bool found = false;
    for (int i = 0; names && !found && i < eh->e_shnum; i++)
        found = sh[i].sh_name < names_size && names_size - sh[i].sh_name >= sizeof wanted &&
                memcmp(names + sh[i].sh_name, wanted, sizeof wanted) == 0;
    free(names);
    free(sh);
    return found;
}

enum elf_kind elf_kind_of(const char *command)
{
    char path[PATH_MAX];
    if (!resolve(command, path, sizeof path))
        return ELF_UNKNOWN;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ELF_UNKNOWN;
    Elf64_Ehdr eh;
    enum elf_kind kind = ELF_UNKNOWN;
    if (read_at(fd, &eh, sizeof eh, 0) && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) &&
        eh.e_shentsize == sizeof(Elf64_Shdr)) {
        if (is_go(fd, &eh))
            kind = ELF_GO;
        else
            kind = has_interpreter(fd, &eh) ? ELF_DYNAMIC : ELF_STATIC;
    }
    close(fd);
    return kind;
}

const char *elf_kind_name(enum elf_kind kind)
{
    static const char *const names[] = {
        [ELF_DYNAMIC] = "dynamically linked",
        [ELF_STATIC] = "statically linked",
        [ELF_GO] = "a Go program",
        [ELF_UNKNOWN] = "not an ELF program",
    };
    return names[kind];
}
