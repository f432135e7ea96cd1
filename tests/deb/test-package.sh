#!/bin/bash
# make check-deb: the Debian package, end to end, as a distribution would see it.
#
#  1. `make deb` in a clean clone of this repository (its committed HEAD), which builds with
#     dpkg-buildpackage and fails on any lintian error;
#  2. the package installed with dpkg into a copy of the VM suite's cached Debian 12 root (the
#     cache is copied, never touched), in a private mount namespace;
#  3. the binaries run there, man pages found by man -w, completions and docs present, the units
#     present and enabled the Debian way, dracut finds the module and builds an image with it;
#  4. dpkg -r leaves no unit enabled; dpkg -P removes the package's state.
#
# Root only. Prints "check-deb: PASS" or the first failure, and the time each step took.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${BDVM_CACHE:-/var/cache/bootdeploy-vm}"
[ "$(id -u)" -eq 0 ] || { echo "check-deb: needs root (chroot, mount namespace)" >&2; exit 2; }
# The VM suite's base (debootstrap'd Debian 12 + kernel): built when missing and debootstrap is
# there (about a minute), reused as it is otherwise.
base=""
if command -v debootstrap >/dev/null; then
    base="$("$repo/tests/vm/build-base.sh" "$cache" | tail -1)"
else
    for d in "$cache"/base-*/; do [ -e "$d/done" ] && base="${d%/}"; done
fi
if [ -z "$base" ] || [ ! -e "$base/done" ]; then
    echo "SKIP: check-deb: no finished Debian root in $cache (scripts/install-deps.sh vm, then tests/vm/build-base.sh)"
    exit 0
fi

work="$(mktemp -d /var/tmp/bootdeploy-checkdeb.XXXXXX)"
trap 'rm -rf "$work"' EXIT
t0=$SECONDS
step() { echo "check-deb: [$((SECONDS - t0)) s] $*"; }
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }

step "clean clone of $(git -C "$repo" rev-parse --short HEAD)"
git clone -q "$repo" "$work/src"
step "make deb"
make -C "$work/src" --no-print-directory deb DEB_OUT="$work/out" >"$work/deb.log" 2>&1 || { tail -30 "$work/deb.log"; fail "make deb"; }
grep -E '^build-deb: ' "$work/deb.log"
version="$(cat "$work/src/VERSION")"
deb="$work/out/bootdeploy_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb"
[ -f "$deb" ] || fail "no $deb"
errors=$(grep -c '^E: ' "$work/out/lintian.txt" || true)
[ "$errors" -eq 0 ] || fail "lintian reports $errors error(s)"
echo "check-deb: lintian: 0 errors; $(grep -c '^W: ' "$work/out/lintian.txt" || true) warning(s)"

step "copy the Debian root $base/rootfs"
root="$work/root"
cp -a "$base/rootfs" "$root"
cp "$deb" "$root/tmp/bootdeploy.deb"
kver="$(cat "$base/kver")"

# Everything in the root runs in a private mount namespace with /proc and /dev of its own.
cat >"$work/inside.sh" <<'INSIDE'
set -euo pipefail
root="$1"; kver="$2"; logs="$(dirname "$root")"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
inroot() { chroot "$root" "$@"; }
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
units_enabled=(boot-health-check.service boot-health-bless.service boot-health.service bootdeploy-finalize-check.service boot-health-metrics.path)

echo "check-deb: dpkg -i"
inroot dpkg -i /tmp/bootdeploy.deb >"$logs/dpkg-i.log" 2>&1 || { cat "$logs/dpkg-i.log"; fail "dpkg -i"; }
inroot dpkg-query -W -f='${Status} ${Version}\n' bootdeploy

echo "check-deb: the binaries"
inroot boot-deploy --help >"$logs/help.txt" && head -2 "$logs/help.txt"
inroot boot-health --help >"$logs/help.txt" && grep -q 'report' "$logs/help.txt" || fail "boot-health --help lists no report"
inroot boot-health report --help >/dev/null || fail "boot-health report --help"
inroot /usr/lib/bootdeploy/bd-prepare-root --help >/dev/null 2>&1 || true   # early-boot binary: no CLI parser; it must at least be there
[ -x "$root/usr/lib/bootdeploy/bd-prepare-root" ] || fail "bd-prepare-root missing"

echo "check-deb: man pages"
for page in boot-deploy boot-health boot-deploy.deploy boot-health.report; do
    if [ -x "$root/usr/bin/man" ]; then p="$(inroot man -w "$page")"; else p="$(man -M "$root/usr/share/man" -w "$page")"; p="${p#$root}"; fi
    [ -n "$p" ] || fail "man -w $page"
    echo "  man -w $page -> ${p%$'\n'}"
done
grep -q 'Fl -since' <<<"$(zcat "$root/usr/share/man/man1/boot-health.report.1.gz")" || fail "the report man page lacks --since"

echo "check-deb: completions and docs"
for f in /usr/share/bash-completion/completions/boot-deploy /usr/share/bash-completion/completions/boot-health \
         /usr/share/zsh/vendor-completions/_boot-deploy /usr/share/zsh/vendor-completions/_boot-health \
         /usr/share/fish/vendor_completions.d/boot-deploy.fish /usr/share/fish/vendor_completions.d/boot-health.fish \
         /usr/share/doc/bootdeploy/HEALTH.md /usr/share/doc/bootdeploy/REPORT.md /etc/boot-health/boot-health.conf; do
    [ -s "$root$f" ] || fail "$f missing or empty"
done
grep -q boot-health <<<"$(inroot bash -c 'source /usr/share/bash-completion/completions/boot-health && complete -p boot-health')" \
    || fail "the bash completion does not register"
for d in $(grep -ho 'file:/usr/share/doc/[^ ]*' "$root"/lib/systemd/system/*.service "$root"/lib/systemd/system/*.path | sort -u); do
    [ -f "$root${d#file:}" ] || fail "a unit's Documentation= points at ${d#file:}, which is not installed"
done
for d in check/required.d check/wanted.d green.d red.d boot-health.conf.d; do [ -d "$root/etc/boot-health/$d" ] || fail "/etc/boot-health/$d"; done
grep -q '/etc/boot-health/boot-health.conf' <<<"$(inroot dpkg-query -W -f='${Conffiles}\n' bootdeploy)" || fail "boot-health.conf is not a conffile"
# GRUB's distribution mode (docs/GRUB.md): update-grub runs /etc/grub.d/15_bootdeploy, which adds
# nothing while no BootDeploy menu exists on /boot (so installing the package changes no grub.cfg).
[ -x "$root/etc/grub.d/15_bootdeploy" ] || fail "/etc/grub.d/15_bootdeploy missing or not executable"
grep -q '/etc/grub.d/15_bootdeploy' <<<"$(inroot dpkg-query -W -f='${Conffiles}\n' bootdeploy)" || fail "15_bootdeploy is not a conffile"
if [ -f "$root/usr/share/grub/grub-mkconfig_lib" ]; then
    out=$(inroot env BOOTDEPLOY_GRUB_BOOT=/nonexistent /etc/grub.d/15_bootdeploy) || fail "15_bootdeploy failed without a menu"
    [ -z "$out" ] || fail "15_bootdeploy printed something without a menu: $out"
else
    echo "check-deb: SKIP: running 15_bootdeploy (grub-common is not in the test root)"
fi

echo "check-deb: units"
for u in "${units_enabled[@]}" bootdeploy-finalize.service boot-health-metrics.service; do
    [ -f "$root/lib/systemd/system/$u" ] || fail "unit $u missing"
done
[ -x "$root/lib/systemd/system-generators/bootdeploy-var-generator" ] || fail "the /var generator is missing"
for u in "${units_enabled[@]}"; do
    s="$(inroot systemctl is-enabled "$u" || true)"
    echo "  $u: $s"
    [ "$s" = enabled ] || fail "$u is $s after install, expected enabled"
done
s="$(inroot systemctl is-enabled bootdeploy-finalize.service || true)"
[ "$s" = static ] || fail "bootdeploy-finalize.service is $s, expected static (started by deploy --stage)"
[ -L "$root/etc/systemd/system/boot-complete.target.requires/boot-health-check.service" ] || fail "boot-health-check.service is not RequiredBy boot-complete.target"

echo "check-deb: dracut"
inroot dracut --list-modules --kver "$kver" >"$logs/dracut-modules.txt" 2>/dev/null || true
grep -qx bootdeploy "$logs/dracut-modules.txt" || fail "dracut --list-modules does not list bootdeploy"
inroot dracut --quiet --force --no-hostonly --no-kernel --no-compress -m "bootdeploy" /tmp/bd-test.img "$kver" >"$logs/dracut.log" 2>&1 \
    || { tail -20 "$logs/dracut.log"; fail "dracut --add bootdeploy"; }
inroot lsinitrd /tmp/bd-test.img >"$logs/lsinitrd.txt"
grep -q 'usr/lib/bootdeploy/bd-prepare-root' "$logs/lsinitrd.txt" || fail "the image lacks bd-prepare-root"
grep -q 'initrd-root-fs.target.wants/bootdeploy-prepare-root.service' "$logs/lsinitrd.txt" || fail "the image does not enable prepare-root"
echo "  dracut -m bootdeploy: $(stat -c %s "$root/tmp/bd-test.img") bytes, bd-prepare-root and its unit inside"

echo "check-deb: dpkg -r"
mkdir -p "$root/var/lib/prometheus/node-exporter"
echo 'bootdeploy_rollbacks_total{stateroot="os"} 0' >"$root/var/lib/prometheus/node-exporter/bootdeploy.prom"
inroot dpkg -r bootdeploy >"$logs/dpkg-r.log" 2>&1 || { cat "$logs/dpkg-r.log"; fail "dpkg -r"; }
# The Debian way: the unit files are gone, the enablement links stay (dangling) so that a
# reinstall restores the administrator's choice, and only purge removes them. So: nothing enabled
# is left — systemctl knows none of our units, and no link reaches a unit file.
for u in "${units_enabled[@]}"; do
    s="$(inroot systemctl is-enabled "$u" 2>/dev/null || true)"
    case "$s" in enabled*|static|alias|indirect|generated|linked*) fail "$u is still $s after dpkg -r" ;; esac
done
for l in $(find "$root/etc/systemd/system" -type l \( -name 'boot-health*' -o -name 'bootdeploy*' \)); do
    t="$(readlink "$l")"; case "$t" in /*) t="$root$t" ;; *) t="$(dirname "$l")/$t" ;; esac
    [ ! -e "$t" ] || fail "after dpkg -r ${l#$root} still reaches a unit file"
done
[ ! -e "$root/lib/systemd/system/boot-health.service" ] || fail "dpkg -r left the unit files"
[ -f "$root/etc/boot-health/boot-health.conf" ] || fail "dpkg -r removed the conffile (only purge may)"
echo "check-deb: dpkg -P"
inroot dpkg -P bootdeploy >"$logs/dpkg-p.log" 2>&1 || { cat "$logs/dpkg-p.log"; fail "dpkg -P"; }
[ ! -e "$root/etc/boot-health/boot-health.conf" ] || fail "purge left /etc/boot-health/boot-health.conf"
[ ! -e "$root/var/lib/prometheus/node-exporter/bootdeploy.prom" ] || fail "purge left the metrics file"
left="$(find "$root/etc/systemd/system" "$root/var/lib/systemd/deb-systemd-helper-enabled" \( -name 'boot-health*' -o -name 'bootdeploy*' \) 2>/dev/null || true)"
[ -z "$left" ] || fail "purge left enablement state: $left"
INSIDE
step "install, run, remove in the root"
unshare -m --propagation private bash "$work/inside.sh" "$root" "$kver"
step "PASS"
echo "check-deb: PASS in $((SECONDS - t0)) s"
