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

static bool has_interpreter(int fd, const Elf64_Ehdr *eh)
{
    for (int i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        if (!read_at(fd, &ph, sizeof ph, (off_t)(eh->e_phoff + (Elf64_Off)i * eh->e_phentsize)))
            return false;
        if (ph.p_type == PT_INTERP)
            return true;
    }
    return false;
}

/* A section named .go.buildinfo: every Go binary since 1.13 has one. */
static bool is_go(int fd, const Elf64_Ehdr *eh)
{
    Elf64_Shdr names;
    if (eh->e_shstrndx == SHN_UNDEF || eh->e_shstrndx >= eh->e_shnum ||
        !read_at(fd, &names, sizeof names, (off_t)(eh->e_shoff + (Elf64_Off)eh->e_shstrndx * eh->e_shentsize)))
        return false;
    for (int i = 0; i < eh->e_shnum; i++) {
        Elf64_Shdr sh;
        char name[16] = "";
        if (!read_at(fd, &sh, sizeof sh, (off_t)(eh->e_shoff + (Elf64_Off)i * eh->e_shentsize)))
            return false;
        if (sh.sh_name < names.sh_size && pread(fd, name, sizeof name - 1, (off_t)(names.sh_offset + sh.sh_name)) > 0 &&
            strcmp(name, ".go.buildinfo") == 0)
            return true;
    }
    return false;
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
