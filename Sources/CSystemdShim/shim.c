#include "bd_systemd_shim.h"
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

int bd_sd_journal_send_fields(const char *const *fields, size_t count) {
    struct iovec *iov = calloc(count ? count : 1, sizeof(struct iovec));
    if (!iov) return -12;
    for (size_t i = 0; i < count; i++) {
        iov[i].iov_base = (void *)fields[i];
        iov[i].iov_len = strlen(fields[i]);
    }
    int r = sd_journal_sendv(iov, (int)count);
    free(iov);
    return r;
}

int bd_sd_notify(const char *state) { return sd_notify(0, state); }
