#include "bd_systemd_shim.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

int bd_sd_journal_send_fields(const char *const *fields, size_t count) {
    struct iovec *iov = calloc(count ? count : 1, sizeof(struct iovec));
    if (!iov) return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        iov[i].iov_base = (void *)fields[i];
        iov[i].iov_len = strlen(fields[i]);
    }
    int r = sd_journal_sendv(iov, (int)count);
    free(iov);
    return r;
}

int bd_sd_notify(const char *state) { return sd_notify(0, state); }

int bd_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int bd_child_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0) return -1;
    return info.si_pid != 0;
}

int bd_pipe_cloexec_nonblock(int fds[2]) { return pipe2(fds, O_CLOEXEC | O_NONBLOCK); }

int bd_o_path(void) { return O_PATH; }

pid_t bd_spawn_checked(int exec_fd, char *const argv[], char *const envp[], int out_fd) {
    int err[2];
    if (pipe2(err, O_CLOEXEC) < 0) return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(err[0]);
        close(err[1]);
        return -e;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here on. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
        setpgid(0, 0);
        /* Above 3, so that the dup2s below cannot overwrite them. */
        int e = fcntl(exec_fd, F_DUPFD, 4), o = fcntl(out_fd, F_DUPFD, 4), w = fcntl(err[1], F_DUPFD_CLOEXEC, 4);
        int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (e < 0 || o < 0 || w < 0 || n < 0) goto fail;
        if (dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0 || dup2(e, 3) < 0) goto fail;
        /* Nothing else of ours is inherited: close everything above 3 but the error pipe. */
        if (w > 4) syscall(SYS_close_range, 4, w - 1, 0);
        syscall(SYS_close_range, w + 1, ~0U, 0);
        syscall(SYS_execveat, 3, "", argv, envp, AT_EMPTY_PATH);
    fail:;
        int code = errno;
        /* Report through whichever copy of the error pipe is still open. */
        ssize_t r = write(w >= 0 ? w : err[1], &code, sizeof code);
        (void)r;
        _exit(127);
    }
    close(err[1]);
    int code = 0;
    ssize_t r;
    do r = read(err[0], &code, sizeof code); while (r < 0 && errno == EINTR);
    close(err[0]);
    if (r == (ssize_t)sizeof code) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        return -code;
    }
    return pid;
}

/* ---- sd-bus ---- */

#define BD_QUEUE 128
#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"

struct bd_bus {
    sd_bus *bus;
    sd_bus_slot *slots[3];
    bd_bus_event queue[BD_QUEUE];
    size_t head, count;
    int overflowed;
    char error[512];
};

static void set_error(bd_bus *b, const sd_bus_error *e, int r) {
    if (e && sd_bus_error_is_set(e))
        snprintf(b->error, sizeof b->error, "%s: %s", e->name, e->message ? e->message : "");
    else
        snprintf(b->error, sizeof b->error, "%s", strerror(r < 0 ? -r : r));
}

const char *bd_bus_last_error(bd_bus *bus) { return bus->error; }

static void push(bd_bus *b, const bd_bus_event *ev) {
    if (b->count == BD_QUEUE) { b->overflowed = 1; return; }
    b->queue[(b->head + b->count) % BD_QUEUE] = *ev;
    b->count++;
}

static void copy(char *dst, size_t n, const char *src) {
    if (!src) src = "";
    snprintf(dst, n, "%s", src);
}

static int on_startup_finished(sd_bus_message *m, void *userdata, sd_bus_error *e) {
    (void)m; (void)e;
    bd_bus_event ev = { .kind = BD_BUS_EVENT_STARTUP_FINISHED };
    push(userdata, &ev);
    return 0;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *e) {
    (void)e;
    uint32_t id; const char *job = NULL, *unit = NULL, *result = NULL;
    if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) < 0) return 0;
    bd_bus_event ev = { .kind = BD_BUS_EVENT_JOB_REMOVED };
    copy(ev.path, sizeof ev.path, job);
    copy(ev.unit, sizeof ev.unit, unit);
    copy(ev.value, sizeof ev.value, result);
    push(userdata, &ev);
    return 0;
}

/* PropertiesChanged(s interface, a{sv} changed, as invalidated): only ActiveState matters. An
 * invalidated ActiveState (no value) is passed on with an empty value so the caller re-reads it. */
static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *e) {
    (void)e;
    const char *iface = NULL;
    if (sd_bus_message_read(m, "s", &iface) < 0 || !iface || strcmp(iface, SD_UNIT) != 0) return 0;
    bd_bus_event ev = { .kind = BD_BUS_EVENT_UNIT_CHANGED };
    copy(ev.path, sizeof ev.path, sd_bus_message_get_path(m));
    int found = 0;
    if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0) return 0;
    while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
        const char *key = NULL;
        if (sd_bus_message_read(m, "s", &key) < 0) return 0;
        if (key && strcmp(key, "ActiveState") == 0) {
            const char *v = NULL;
            if (sd_bus_message_read(m, "v", "s", &v) < 0) return 0;
            copy(ev.value, sizeof ev.value, v);
            found = 1;
        } else if (sd_bus_message_skip(m, "v") < 0) return 0;
        if (sd_bus_message_exit_container(m) < 0) return 0;
    }
    if (sd_bus_message_exit_container(m) < 0) return 0;
    if (!found) {
        char **inv = NULL;
        if (sd_bus_message_read_strv(m, &inv) >= 0 && inv) {
            for (char **p = inv; *p; p++) if (strcmp(*p, "ActiveState") == 0) found = 1;
            for (char **p = inv; *p; p++) free(*p);
            free(inv);
        }
    }
    if (found) push(userdata, &ev);
    return 0;
}

int bd_bus_open(const char *address, bd_bus **ret) {
    bd_bus *b = calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    int r;
    if (address) {
        r = sd_bus_new(&b->bus);
        if (r >= 0) r = sd_bus_set_address(b->bus, address);
        if (r >= 0) r = sd_bus_set_bus_client(b->bus, 1);
        if (r >= 0) r = sd_bus_start(b->bus);
    } else {
        r = sd_bus_open_system(&b->bus);
    }
    if (r < 0) {
        if (b->bus) sd_bus_unref(b->bus);
        free(b);
        return r;
    }
    *ret = b;
    return 0;
}

void bd_bus_close(bd_bus *b) {
    if (!b) return;
    for (int i = 0; i < 3; i++) sd_bus_slot_unref(b->slots[i]);
    sd_bus_flush_close_unref(b->bus);
    free(b);
}

int bd_bus_watch(bd_bus *b) {
    int r = sd_bus_match_signal(b->bus, &b->slots[0], SD_DEST, SD_PATH, SD_MANAGER, "StartupFinished",
                                on_startup_finished, b);
    if (r >= 0)
        r = sd_bus_match_signal(b->bus, &b->slots[1], SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved",
                                on_job_removed, b);
    if (r >= 0)
        r = sd_bus_add_match(b->bus, &b->slots[2],
                             "type='signal',sender='" SD_DEST "',interface='org.freedesktop.DBus.Properties',"
                             "member='PropertiesChanged',arg0='" SD_UNIT "'",
                             on_properties_changed, b);
    if (r < 0) { set_error(b, NULL, r); return r; }
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    /* Without Subscribe, systemd sends unit PropertiesChanged and JobRemoved only to subscribers. */
    (void)sd_bus_call_method(b->bus, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe", &e, &reply, "");
    sd_bus_message_unref(reply);
    sd_bus_error_free(&e);
    return 0;
}

static uint64_t now_usec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

int bd_bus_next_event(bd_bus *b, uint64_t timeout_usec, bd_bus_event *ev) {
    uint64_t deadline = now_usec() + timeout_usec;
    for (;;) {
        if (b->overflowed) {
            b->overflowed = 0;
            memset(ev, 0, sizeof *ev);
            ev->kind = BD_BUS_EVENT_OVERFLOW;
            return 1;
        }
        if (b->count > 0) {
            *ev = b->queue[b->head];
            b->head = (b->head + 1) % BD_QUEUE;
            b->count--;
            return 1;
        }
        int r = sd_bus_process(b->bus, NULL);
        if (r < 0) { set_error(b, NULL, r); return r; }
        if (r > 0) continue;
        uint64_t now = now_usec();
        if (now >= deadline) return 0;
        r = sd_bus_wait(b->bus, deadline - now);
        if (r < 0 && r != -EINTR) { set_error(b, NULL, r); return r; }
    }
}

int bd_bus_manager_u64(bd_bus *b, const char *property, uint64_t *ret) {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    int r = sd_bus_get_property_trivial(b->bus, SD_DEST, SD_PATH, SD_MANAGER, property, &e, 't', ret);
    if (r < 0) set_error(b, &e, r);
    sd_bus_error_free(&e);
    return r;
}

int bd_bus_unit_path(bd_bus *b, const char *unit, char **ret) {
    const char *methods[2] = { "GetUnit", "LoadUnit" };
    int r = -ENOENT;
    for (int i = 0; i < 2; i++) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        r = sd_bus_call_method(b->bus, SD_DEST, SD_PATH, SD_MANAGER, methods[i], &e, &reply, "s", unit);
        if (r >= 0) {
            const char *path = NULL;
            r = sd_bus_message_read(reply, "o", &path);
            if (r >= 0) {
                *ret = strdup(path);
                r = *ret ? 0 : -ENOMEM;
            }
            sd_bus_message_unref(reply);
            sd_bus_error_free(&e);
            if (r < 0) set_error(b, NULL, r);
            return r;
        }
        set_error(b, &e, r);
        sd_bus_error_free(&e);
    }
    return r;
}

int bd_bus_unit_string(bd_bus *b, const char *path, const char *property, char **ret) {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    int r = sd_bus_get_property_string(b->bus, SD_DEST, path, SD_UNIT, property, &e, ret);
    if (r < 0) set_error(b, &e, r);
    sd_bus_error_free(&e);
    return r;
}

int bd_bus_start_unit(bd_bus *b, const char *unit, const char *mode) {
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r = sd_bus_call_method(b->bus, SD_DEST, SD_PATH, SD_MANAGER, "StartUnit", &e, &reply, "ss", unit, mode);
    if (r < 0) set_error(b, &e, r);
    sd_bus_message_unref(reply);
    sd_bus_error_free(&e);
    return r < 0 ? r : 0;
}
