#ifndef BD_SHIM_H
#define BD_SHIM_H
/* What Swift cannot import from the C headers directly: macros built from
 * _IOWR, functions hidden behind _GNU_SOURCE. Every name carries the bd_ prefix. */
#include <stdint.h>
#include <sys/types.h>
/* flistxattr/fgetxattr/fsetxattr: not part of Swift's Glibc module. */
#include <sys/xattr.h>

/* renameat2(2) with RENAME_EXCHANGE / RENAME_NOREPLACE. Returns -1 and sets errno on failure. */
int bd_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
extern const unsigned int bd_rename_exchange;
extern const unsigned int bd_rename_noreplace;

/* unshare(2); CLONE_NEWNS is exposed for mount-namespace tests. */
int bd_unshare(int flags);
extern const int bd_clone_newns;

/* Freeze and thaw a filesystem (FIFREEZE / FITHAW) through any fd on it. */
int bd_fifreeze(int fd);
int bd_fithaw(int fd);
/* EXT4_IOC_CHECKPOINT (Linux 5.13): commit ext4's journal and write it back into place, without
 * freezing. -1 with ENOTTY/EINVAL on an older kernel, ENODEV without a journal. */
int bd_ext4_checkpoint(int fd);

/* A watchdog child that thaws the filesystem behind fd when this process dies without calling
 * bd_freeze_watchdog_stop, or after timeout_ms (freeze_watchdog.c). Start it before FIFREEZE. */
int bd_freeze_watchdog_start(int fd, int timeout_ms, int *pid_out, int *pipe_out);
/* Reaps the watchdog; with thawed 0 it thaws the filesystem itself before it exits. */
int bd_freeze_watchdog_stop(int pid, int pipe_w, int thawed);

/* openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): never resolves outside dirfd. */
int bd_openat_in_root(int dirfd, const char *path, int flags);

/* The mount id of the mount fd lives on (statx STATX_MNT_ID, Linux 5.8); -1 when the kernel
 * does not say (errno set, or ENOSYS/EINVAL on an older kernel). */
int64_t bd_mount_id(int fd);

/* syncfs(2): flush the whole filesystem that fd lives on. */
int bd_syncfs(int fd);

/* statfs f_type of the filesystem behind fd; 0 on failure (errno set). */
int64_t bd_fstatfs_type(int fd);

/* The well-known f_type magic numbers we branch on. */
extern const int64_t bd_magic_msdos;
extern const int64_t bd_magic_ext4;
extern const int64_t bd_magic_xfs;
extern const int64_t bd_magic_btrfs;
extern const int64_t bd_magic_tmpfs;

/* Access to errno as an lvalue-free function, for code paths that call C directly. */
int bd_errno(void);

/* The process's argc/argv as the C runtime passed them, captured by an ELF constructor. Swift's
 * CommandLine.arguments reads /proc/self/cmdline on Linux, which does not exist yet when
 * prepare-root runs as init= (or in a chroot without /proc). */
int bd_saved_argc(void);
char **bd_saved_argv(void);

/* finit_module(2) with no parameters: loads a kernel module from an open file (no wrapper in glibc
 * 2.36). Used as init= to load efivarfs from the deployment before systemd runs. */
int bd_finit_module(int fd);

#endif
