/* seccompfilter.c: the seccomp route's filter, installed by the process that is to exec the
 * program. See seccompfilter.h. */
#define _GNU_SOURCE
#include "seccompfilter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#else
#error "the seccomp route knows x86_64 and aarch64 only"
#endif

int seccomp_filter_install(bool trap_accept)
{
    /* Either accept and accept4, or (a Go program: intercept.h) rt_sigreturn in their place. */
    unsigned third = trap_accept ? __NR_accept : __NR_rt_sigreturn;
    unsigned fourth = trap_accept ? __NR_accept4 : __NR_rt_sigreturn;
    struct sock_filter code[] = {
        /* another architecture's calls (a 32-bit program) pass: the launcher could not read them */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bind, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, third, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, fourth, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog program = {.len = sizeof code / sizeof code[0], .filter = code};
    /* SPEC_ALLOW: the filter is no sandbox, so it must not switch on the speculation mitigations
     * a seccomp filter otherwise brings on some kernels (they slow every instruction) */
    unsigned flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
    if (fd < 0 && errno == EACCES) { /* without CAP_SYS_ADMIN a filter needs no_new_privs */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            return -1;
        fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
    }
    return (int)fd;
}
