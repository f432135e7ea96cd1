#!/bin/bash
# dracut module: BootDeploy's prepare-root, which mounts the deployment named by
# bootdeploy=<stateroot>/<id> after /sysroot is mounted and before initrd-root-fs.target.

# The binary to put into the initramfs. BOOTDEPLOY_PREPARE_ROOT lets a test or a packager point
# at a freshly built one without installing it on the host first.
bootdeploy_binary() {
    echo "${BOOTDEPLOY_PREPARE_ROOT:-${dracutsysrootdir-}/usr/lib/bootdeploy/bd-prepare-root}"
}

# Included only when asked for (--add bootdeploy, or add_dracutmodules+=" bootdeploy "): a
# host-only image of a machine that does not boot deployments has no use for it.
check() {
    [[ -x "$(bootdeploy_binary)" ]] || return 1
    return 255
}

depends() {
    echo systemd
}

install() {
    local bin
    bin="$(bootdeploy_binary)"
    # inst_binary copies the libraries the binary links (libmount, libblkid, libc...) as well.
    inst_binary "$bin" /usr/lib/bootdeploy/bd-prepare-root
    inst_simple "$moddir/bootdeploy-prepare-root.service" \
        "$systemdsystemunitdir/bootdeploy-prepare-root.service"
    # Enabled by a wants link rather than systemctl: the link is all that enabling means here,
    # and it works for an image built for another root.
    mkdir -p "${initdir}${systemdsystemunitdir}/initrd-root-fs.target.wants"
    ln_r "$systemdsystemunitdir/bootdeploy-prepare-root.service" \
        "$systemdsystemunitdir/initrd-root-fs.target.wants/bootdeploy-prepare-root.service"
}
