/* elfkind.h: what kind of program a command is, read from its ELF file: whether the preload shim
 * can reach its socket calls. */
#ifndef HOTSWAP_ELFKIND_H
#define HOTSWAP_ELFKIND_H

enum elf_kind {
    ELF_DYNAMIC, /* has an interpreter and is not Go: libc's socket calls, the shim sees them */
    ELF_STATIC,  /* no interpreter: LD_PRELOAD is never read */
    ELF_GO,      /* a Go program (.go.buildinfo): its runtime makes the socket system calls itself */
    ELF_UNKNOWN, /* not found, not ELF (a script), unreadable */
};

/* The kind of `command` (a path, or a name looked up in PATH as execvp would). */
enum elf_kind elf_kind_of(const char *command);

const char *elf_kind_name(enum elf_kind kind);

#endif
