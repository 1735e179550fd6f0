/* elfkind.h: what kind of program a command is, read from its ELF file: whether the preload shim
 * can reach its socket calls. The launcher reads it of each command it starts; the shim, of a
 * program a process of the generation execs (a wrapper's `exec`), to follow it onto the seccomp
 * route. */
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

/* The kind of the file at `path`, taken as it is (as execve would). No allocation, no libc call
 * the shim hooks: safe in an exec hook, after vfork too. */
enum elf_kind elf_kind_of_file(const char *path);

const char *elf_kind_name(enum elf_kind kind);

#endif
