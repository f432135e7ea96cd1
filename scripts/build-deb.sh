#!/bin/bash
# make deb: builds bootdeploy_<version>_<arch>.deb from this tree with dpkg-buildpackage
# (debhelper, debian/), checks it with lintian (any error fails), and puts it into OUT.
#
# The tree is copied (without .git and build folders) into a temporary directory first, so that
# the package is built from scratch, and dpkg-buildpackage's outputs (written next to the source
# directory) stay out of the checkout's parent. Usage: scripts/build-deb.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-.build-deb}" && cd "${1:-.build-deb}" && pwd)"

version="$(cat VERSION)"
changelog="$(dpkg-parsechangelog -S Version)"
if [ "$version" != "$changelog" ]; then
    echo "build-deb: VERSION says $version but debian/changelog says $changelog: add a changelog entry (dch -v $version)" >&2
    exit 1
fi
swift="${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}"
[ -x "$swift" ] || { echo "build-deb: no Swift toolchain (looked on PATH and at /opt/swift/usr/bin/swift; set SWIFT=)" >&2; exit 1; }

work="$(mktemp -d /tmp/bootdeploy-deb.XXXXXX)"
trap 'rm -rf "$work"' EXIT
src="$work/bootdeploy-$version"
mkdir "$src"
tar -c --exclude=./.git --exclude='./.build' --exclude='./.build-*' --exclude='./.build_*' --exclude=./.swiftpm \
    --exclude=./demo --exclude=./Package.resolved --exclude='./debian/.swift-build' . | tar -x -C "$src"

start=$SECONDS
(cd "$src" && SWIFT="$swift" dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 || {
    tail -40 "$work/build.log" >&2; echo "build-deb: dpkg-buildpackage failed (log above)" >&2; exit 1; }
arch="$(dpkg-architecture -qDEB_HOST_ARCH)"
deb="bootdeploy_${version}_${arch}.deb"
cp "$work/$deb" "$out/"
echo "build-deb: $out/$deb built in $((SECONDS - start)) s"

# lintian: errors fail the build; warnings and the rest are listed.
lintian --no-tag-display-limit --display-info "$out/$deb" >"$out/lintian.txt" 2>&1 || true
cat "$out/lintian.txt"
errors=$(grep -c '^E: ' "$out/lintian.txt" || true)
echo "build-deb: lintian: $errors error(s), $(grep -c '^W: ' "$out/lintian.txt" || true) warning(s) ($out/lintian.txt)"
[ "$errors" -eq 0 ]
