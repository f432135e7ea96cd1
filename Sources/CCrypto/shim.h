#include <gcrypt.h>

/* libgcrypt must be initialised (gcry_check_version) before its first use, and gcry_control is
 * variadic, which Swift cannot call. Secure memory is for keys; a digest of public files needs
 * none. When something else in the process (libsystemd) has finished initialising, that stands. */
static inline int bd_gcrypt_ready(void) {
    if (!gcry_check_version(NULL)) return 0;
    if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
        gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
        gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    }
    return 1;
}
