#include "bd_shim.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

const unsigned int bd_rename_exchange = RENAME_EXCHANGE;
const unsigned int bd_rename_noreplace = RENAME_NOREPLACE;
const int bd_clone_newns = CLONE_NEWNS;
const int64_t bd_magic_msdos = MSDOS_SUPER_MAGIC;
const int64_t bd_magic_ext4 = EXT4_SUPER_MAGIC;
const int64_t bd_magic_xfs = XFS_SUPER_MAGIC;
const int64_t bd_magic_btrfs = BTRFS_SUPER_MAGIC;
const int64_t bd_magic_tmpfs = TMPFS_MAGIC;

int bd_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

int bd_unshare(int flags) { return unshare(flags); }

int bd_fifreeze(int fd) { int arg = 0; return ioctl(fd, FIFREEZE, &arg); }
int bd_fithaw(int fd) { int arg = 0; return ioctl(fd, FITHAW, &arg); }
#ifndef EXT4_IOC_CHECKPOINT
#define EXT4_IOC_CHECKPOINT _IOW('f', 43, uint32_t)
#endif
int bd_ext4_checkpoint(int fd) { uint32_t flags = 0; return ioctl(fd, EXT4_IOC_CHECKPOINT, &flags); }

int bd_syncfs(int fd) { return syncfs(fd); }

int64_t bd_fstatfs_type(int fd) {
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return 0;
    return (int64_t)st.f_type;
}

int bd_errno(void) { return errno; }

/* glibc calls .init_array functions of the executable and of shared objects with (argc, argv,
 * envp); this keeps them for bd_saved_argc/bd_saved_argv. */
static int bd_argc_saved;
static char **bd_argv_saved;
__attribute__((constructor)) static void bd_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    bd_argc_saved = argc;
    bd_argv_saved = argv;
}
int bd_saved_argc(void) { return bd_argc_saved; }
char **bd_saved_argv(void) { return bd_argv_saved; }

int bd_finit_module(int fd) { return (int)syscall(SYS_finit_module, fd, "", 0); }

int64_t bd_mount_id(int fd) {
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) != 0) return -1;
#ifdef STATX_MNT_ID
    if (stx.stx_mask & STATX_MNT_ID) return (int64_t)stx.stx_mnt_id;
#endif
    errno = EINVAL;
    return -1;
}
