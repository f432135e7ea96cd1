/* A watchdog that thaws a frozen filesystem when the process that froze it dies.
 *
 * FIFREEZE leaves a filesystem frozen until someone calls FITHAW; if the freezer is killed in
 * between (a stop timeout, the OOM killer), every later write to it hangs in uninterruptible
 * sleep. The watchdog is a forked child that holds a descriptor on the filesystem and waits on a
 * pipe: one byte from the parent means "thawed, stand down"; end of file without that byte means
 * the parent died, and the child thaws. It also thaws once its time is up, whatever the parent is
 * doing. The child runs in a multi-threaded (Swift) process after fork(), so it uses only
 * async-signal-safe calls: close_range, sigprocmask, poll, read, ioctl, clock_gettime, _exit. */
#include "bd_shim.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void bd_close_range(unsigned int first, unsigned int last) {
    if (first <= last) syscall(SYS_close_range, first, last, 0);
}

static long bd_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bd_watchdog(int fs_fd, int pipe_r, int timeout_ms) {
    /* Keep only the filesystem and the pipe: no inherited stdout, lock or test harness pipe. */
    unsigned int a = (unsigned int)(fs_fd < pipe_r ? fs_fd : pipe_r);
    unsigned int b = (unsigned int)(fs_fd < pipe_r ? pipe_r : fs_fd);
    if (a > 0) bd_close_range(0, a - 1);
    bd_close_range(a + 1, b - 1);
    bd_close_range(b + 1, ~0U);
    /* Only SIGKILL ends the watchdog: a SIGTERM sent to the whole service must not take it
     * down with the writer it guards. */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int arg = 0;
    long deadline = bd_now_ms() + timeout_ms;
    int expired = 0;
    for (;;) {
        int wait = -1;
        if (!expired) {
            long left = deadline - bd_now_ms();
            wait = left < 0 ? 0 : (int)left;
        }
        struct pollfd p = {.fd = pipe_r, .events = POLLIN};
        int r = poll(&p, 1, wait);
        if (r == 0) {
            /* The parent has held the freeze too long: thaw, keep watching for its end (it may
             * still be inside FIFREEZE, and thawing again at its death catches that). */
            ioctl(fs_fd, FITHAW, &arg);
            expired = 1;
            continue;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            ioctl(fs_fd, FITHAW, &arg);
            _exit(1);
        }
        char c;
        ssize_t n = read(pipe_r, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n == 1) _exit(0);
        ioctl(fs_fd, FITHAW, &arg);
        _exit(0);
    }
}

int bd_freeze_watchdog_start(int fd, int timeout_ms, int *pid_out, int *pipe_out) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        bd_watchdog(fd, p[0], timeout_ms);
        _exit(1);
    }
    close(p[0]);
    *pid_out = pid;
    *pipe_out = p[1];
    return 0;
}

int bd_freeze_watchdog_stop(int pid, int pipe_w, int thawed) {
    char c = 1;
    ssize_t n = 1;
    if (thawed) {
        do { n = write(pipe_w, &c, 1); } while (n < 0 && errno == EINTR);
    }
    close(pipe_w);
    int status = 0;
    pid_t r;
    do { r = waitpid(pid, &status, 0); } while (r < 0 && errno == EINTR);
    return r < 0 ? -1 : 0;
}

/* openat2(2) with RESOLVE_IN_ROOT: resolve `path` as if `dirfd` were "/", so neither ".." nor an
 * absolute symlink leaves it. -1 with errno ENOSYS where the kernel has no openat2. */
struct bd_open_how { unsigned long long flags, mode, resolve; };
int bd_openat_in_root(int dirfd, const char *path, int flags) {
    struct bd_open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .mode = 0,
                              .resolve = 0x10 /* RESOLVE_IN_ROOT */ | 0x02 /* RESOLVE_NO_MAGICLINKS */};
#ifdef SYS_openat2
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
#else
    (void)how; (void)dirfd; (void)path;
    errno = ENOSYS;
    return -1;
#endif
}
