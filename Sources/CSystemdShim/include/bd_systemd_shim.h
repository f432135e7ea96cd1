#ifndef BD_SYSTEMD_SHIM_H
#define BD_SYSTEMD_SHIM_H
/* Wrappers for the parts of libsystemd that Swift cannot call directly
 * (variadic sd-bus / sd-journal calls, SD_BUS_ERROR_NULL, message callbacks). Prefix: bd_sd_ / bd_bus_. */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Send one journal entry made of `count` "FIELD=value" strings. Returns 0 or -errno. */
int bd_sd_journal_send_fields(const char *const *fields, size_t count);

/* sd_notify(0, state). Returns what sd_notify returns. */
int bd_sd_notify(const char *state);

/* pidfd_open(2): a descriptor that becomes readable when the process exits. -1 and errno on failure. */
int bd_pidfd_open(pid_t pid);

/* Whether `pid` (our child) has exited, without reaping it: 1 exited, 0 running, -1 error.
 * Its group may then still be killed safely, since an unreaped pid cannot be reused. */
int bd_child_exited(pid_t pid);

/* pipe2(fds, O_CLOEXEC | O_NONBLOCK): pipe2 needs _GNU_SOURCE, which Swift's Glibc lacks. */
int bd_pipe_cloexec_nonblock(int fds[2]);

/* Starts the program open at `exec_fd` (an O_PATH descriptor whose owner and mode were checked)
 * with execveat(AT_EMPTY_PATH), so that what runs is exactly the file that was checked. The child
 * gets its own process group, an empty signal mask and default dispositions, stdin /dev/null,
 * stdout and stderr `out_fd`, the program's descriptor as fd 3 (a script's interpreter reads it as
 * /dev/fd/3) and no other descriptor. Returns the pid, or -errno when the fork or the exec failed. */
/* O_PATH, which needs _GNU_SOURCE (Swift's Glibc module lacks it). */
int bd_o_path(void);

pid_t bd_spawn_checked(int exec_fd, char *const argv[], char *const envp[], int out_fd);

/* ---- sd-bus, reduced to what boot-health needs from systemd's manager ----
 * Signals are collected by a callback into a queue inside the connection, and handed out one at a
 * time by bd_bus_next_event(), so that the Swift side never deals with C callbacks. */
typedef struct bd_bus bd_bus;

enum {
    BD_BUS_EVENT_STARTUP_FINISHED = 1, /* Manager.StartupFinished */
    BD_BUS_EVENT_JOB_REMOVED = 2,      /* Manager.JobRemoved: unit, value = result */
    BD_BUS_EVENT_UNIT_CHANGED = 3,     /* PropertiesChanged on a unit: path, value = new ActiveState */
    BD_BUS_EVENT_OVERFLOW = 4,         /* the queue overflowed: re-read the states you care about */
};

typedef struct {
    int kind;
    char path[512];
    char unit[256];
    char value[64];
} bd_bus_event;

/* Connects to `address` (a D-Bus address), or to the system bus when NULL. Returns 0 or -errno. */
int bd_bus_open(const char *address, bd_bus **ret);
void bd_bus_close(bd_bus *bus);
/* The message of the last failed call on this connection (empty when none). */
const char *bd_bus_last_error(bd_bus *bus);

/* Installs the signal matches and calls Manager.Subscribe (its failure is tolerated: an old or
 * stand-in manager may not have it; signals of already-subscribed peers still arrive). */
int bd_bus_watch(bd_bus *bus);
/* Waits at most timeout_usec for one event. 1 = event written to *ev, 0 = timeout, <0 = -errno. */
int bd_bus_next_event(bd_bus *bus, uint64_t timeout_usec, bd_bus_event *ev);

/* Manager property of type 't' (e.g. FinishTimestampMonotonic). */
int bd_bus_manager_u64(bd_bus *bus, const char *property, uint64_t *ret);
/* Unit object path for a unit name (GetUnit, then LoadUnit). *ret must be free()d. */
int bd_bus_unit_path(bd_bus *bus, const char *unit, char **ret);
/* String property of org.freedesktop.systemd1.Unit at `path` (ActiveState, SubState...). free() it. */
int bd_bus_unit_string(bd_bus *bus, const char *path, const char *property, char **ret);
/* Manager.StartUnit(unit, mode). */
int bd_bus_start_unit(bd_bus *bus, const char *unit, const char *mode);

#endif
