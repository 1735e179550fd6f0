/* elfkind.c: reading just enough of an ELF file to tell static, Go and dynamic programs apart.
 * See elfkind.h. Only the file's own class is read (64-bit here); anything unexpected is
 * ELF_UNKNOWN, which the caller treats as "use the shim". A reload reads the tables anew each
 * time: mapped, they cost no system call per entry (a Go binary has 50 sections). */
#define _GNU_SOURCE
#include "elfkind.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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
        if (snprintf(out, size, "%.*s/%s", (int)len, len ? path : ".", command) < (int)size && access(out, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

/* The file, mapped whole and read in place: no allocation (the shim reads it in an exec hook,
 * which may run after vfork) and nothing read that is not looked at. */
struct image {
    const unsigned char *base;
    size_t size;
};

/* `count` entries of `each` bytes at `offset`, inside the file; NULL if they are not. */
static const void *at(const struct image *im, uint64_t offset, uint64_t count, uint64_t each)
{
    if (count > im->size / (each ? each : 1) || offset > im->size || im->size - offset < count * each)
        return NULL;
    return im->base + offset;
}

static bool has_interpreter(const struct image *im, const Elf64_Ehdr *eh)
{
    const Elf64_Phdr *ph = at(im, eh->e_phoff, eh->e_phnum, sizeof *ph);
    for (int i = 0; ph && i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_INTERP)
            return true;
    return false;
}

/* A section named .go.buildinfo: every Go binary since 1.13 has one. */
static bool is_go(const struct image *im, const Elf64_Ehdr *eh)
{
    static const char wanted[] = ".go.buildinfo";
    if (eh->e_shstrndx == SHN_UNDEF || eh->e_shstrndx >= eh->e_shnum)
        return false;
    const Elf64_Shdr *sh = at(im, eh->e_shoff, eh->e_shnum, sizeof *sh);
    const char *names = sh ? at(im, sh[eh->e_shstrndx].sh_offset, sh[eh->e_shstrndx].sh_size, 1) : NULL;
    size_t names_size = names ? sh[eh->e_shstrndx].sh_size : 0;
    for (int i = 0; names && i < eh->e_shnum; i++)
        if (sh[i].sh_name < names_size && names_size - sh[i].sh_name >= sizeof wanted &&
            memcmp(names + sh[i].sh_name, wanted, sizeof wanted) == 0)
            return true;
    return false;
}

enum elf_kind elf_kind_of_file(const char *path)
{
    /* the system calls themselves: the shim hooks open() and close() */
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ELF_UNKNOWN;
    struct stat st;
    enum elf_kind kind = ELF_UNKNOWN;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof(Elf64_Ehdr))
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    syscall(SYS_close, fd);
    if (map == MAP_FAILED)
        return ELF_UNKNOWN;
    struct image im = {.base = map, .size = (size_t)st.st_size};
    Elf64_Ehdr eh;
    memcpy(&eh, im.base, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
        eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_shentsize == sizeof(Elf64_Shdr)) {
        if (is_go(&im, &eh))
            kind = ELF_GO;
        else
            kind = has_interpreter(&im, &eh) ? ELF_DYNAMIC : ELF_STATIC;
    }
    munmap(map, im.size);
    return kind;
}

enum elf_kind elf_kind_of(const char *command)
{
    char path[PATH_MAX];
    return resolve(command, path, sizeof path) ? elf_kind_of_file(path) : ELF_UNKNOWN;
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
