#ifndef BD_SYSTEMD_SHIM_H
#define BD_SYSTEMD_SHIM_H
/* Wrappers for the parts of libsystemd that Swift cannot call directly
 * (variadic sd-bus / sd-journal calls, SD_BUS_ERROR_NULL). Prefix: bd_sd_. */
#include <stddef.h>

/* Send one journal entry made of `count` "FIELD=value" strings. Returns 0 or -errno. */
int bd_sd_journal_send_fields(const char *const *fields, size_t count);

/* sd_notify(0, state). Returns what sd_notify returns. */
int bd_sd_notify(const char *state);

#endif
