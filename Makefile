SHELL := /bin/bash
# BootDeploy — build, test, demo, install.
PREFIX ?= /usr
DESTDIR ?=
SWIFT ?= swift
CONFIG ?= debug
BIN = .build/$(CONFIG)
# Where `install` takes the release binaries from (tests/vm passes its own scratch path).
RELEASE_BIN ?= .build/release
# The one place the version lives; debian/changelog must agree (make deb checks).
VERSION := $(shell cat VERSION)
# Generated man pages and completions (make generated), from the binaries in RELEASE_BIN.
GEN ?= .build/generated
# Where the generate-manual tool of swift-argument-parser is built (a host tool, debug is enough).
TOOL_SCRATCH ?= .build
# The man pages' date: the release's (dpkg-buildpackage sets SOURCE_DATE_EPOCH from
# debian/changelog), else the last commit's, so that two builds of one commit are identical.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
MAN_DATE = $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%d)
# Install locations; the Debian package moves units to /lib (bookworm) and zsh completions to
# Debian's vendor-completions.
SYSTEMD_DIR ?= $(PREFIX)/lib/systemd
ZSH_COMPLETIONS_DIR ?= $(PREFIX)/share/zsh/site-functions
SYSCONFDIR ?= /etc

.PHONY: all build release deps check check-vm check-vm-full check-deb demo bench install install-files generated deb clean

all: build

build:
	scripts/install-deps.sh build
	$(SWIFT) build -c $(CONFIG)

# The early-boot binary is built statically against the Swift stdlib so that the
# initramfs needs no Swift runtime.
release:
	scripts/install-deps.sh build
	$(SWIFT) build -c release --static-swift-stdlib -Xlinker -s

# The early-boot binary's size budget is checked on the release build, so that one is made too.
check:
	scripts/install-deps.sh check
	$(SWIFT) build
	$(SWIFT) build -c release --static-swift-stdlib -Xlinker -s --product bd-prepare-root
	BOOTDEPLOY_PREPARE_ROOT_BINARY=$(CURDIR)/.build/release/bd-prepare-root $(SWIFT) test 2>&1 | tee .build/test.log; rc=$${PIPESTATUS[0]}; \
	  skips=$$(grep -c '^SKIP: ' .build/test.log || true); \
	  if [ "$$skips" != 0 ]; then echo "== $$skips test(s) SKIPPED (reported as cancelled, not passed):"; grep '^SKIP: ' .build/test.log | sort -u; fi; \
	  exit $$rc

# tests/vm/run.sh builds the release binaries itself, in its own scratch path (.build-vm).
check-vm:
	scripts/install-deps.sh build
	scripts/install-deps.sh vm
	tests/vm/run.sh

# Every real-boot scenario, including those CI leaves out for time (docs/TESTING.md has the last run).
check-vm-full:
	scripts/install-deps.sh build
	scripts/install-deps.sh vm
	BDVM_FULL=1 tests/vm/run.sh

demo:
	scripts/install-deps.sh demo
	$(SWIFT) build
	scripts/demo.sh

# The benchmark builds the three release binaries in its own scratch path (only those products:
# a plain release build also compiles the test-support target) and measures exactly those.
BENCH_SCRATCH ?= .build-bench
bench:
	scripts/install-deps.sh build
	for p in boot-deploy boot-health bd-prepare-root; do \
	  $(SWIFT) build -c release --static-swift-stdlib -Xlinker -s --scratch-path $(BENCH_SCRATCH) --product $$p || exit 1; done
	scripts/install-deps.sh bench
	BIN=$(BENCH_SCRATCH)/release scripts/bench.sh

install: release generated install-files

# Man pages and bash/zsh/fish completions, generated from the command definitions of the built
# binaries: swift-argument-parser's own generate-manual tool (what its GenerateManual plugin runs,
# built from the offline package copy) reads `--experimental-dump-help`, and each binary writes
# its completion scripts itself. Nothing here is written by hand. Two touch-ups for Debian's
# tools: subcommand pages get a NAME whatis can index (scripts/man-whatis.awk), and the bash
# completion loses its `#!` line (it is sourced, never run).
# `swift package generate-manual --help` makes SwiftPM build the plugin's tool (and only that);
# the tool then runs on the release binaries, which the plugin itself would rebuild without the
# static Swift runtime.
generated:
	$(SWIFT) package --scratch-path $(TOOL_SCRATCH) generate-manual --help >/dev/null
	rm -rf $(GEN) && mkdir -p $(GEN)/man1 $(GEN)/bash $(GEN)/zsh $(GEN)/fish
	tool=$$($(SWIFT) build --scratch-path $(TOOL_SCRATCH) --show-bin-path)/generate-manual-tool; \
	  [ -x "$$tool" ] || { echo "generated: swift-argument-parser's generate-manual tool is not at $$tool" >&2; exit 1; }; \
	  for t in boot-deploy boot-health; do \
	    "$$tool" $(RELEASE_BIN)/$$t --multi-page --date $(MAN_DATE) --output-directory $(GEN)/man1 || exit 1; \
	    $(RELEASE_BIN)/$$t --generate-completion-script bash | sed '1{/^#!/d}' > $(GEN)/bash/$$t || exit 1; \
	    $(RELEASE_BIN)/$$t --generate-completion-script zsh > $(GEN)/zsh/_$$t || exit 1; \
	    $(RELEASE_BIN)/$$t --generate-completion-script fish > $(GEN)/fish/$$t.fish || exit 1; \
	  done; \
	  for p in $(GEN)/man1/*.1; do awk -f scripts/man-whatis.awk "$$p" > "$$p.tmp" && mv "$$p.tmp" "$$p" || exit 1; done

# Installs what `release` and `generated` made; the Debian package's rules call this too.
install-files:
	install -Dm755 $(RELEASE_BIN)/boot-deploy $(DESTDIR)$(PREFIX)/bin/boot-deploy
	install -Dm755 $(RELEASE_BIN)/boot-health $(DESTDIR)$(PREFIX)/bin/boot-health
	install -Dm755 $(RELEASE_BIN)/bd-prepare-root $(DESTDIR)$(PREFIX)/lib/bootdeploy/bd-prepare-root
	install -d $(DESTDIR)$(PREFIX)/lib/dracut/modules.d/50bootdeploy
	install -m644 -t $(DESTDIR)$(PREFIX)/lib/dracut/modules.d/50bootdeploy dracut/50bootdeploy/*.service
	install -m755 -t $(DESTDIR)$(PREFIX)/lib/dracut/modules.d/50bootdeploy dracut/50bootdeploy/*.sh
	install -d $(DESTDIR)$(SYSTEMD_DIR)/system $(DESTDIR)$(SYSTEMD_DIR)/system-generators
	install -m644 -t $(DESTDIR)$(SYSTEMD_DIR)/system $(wildcard units/*.service units/*.path units/*.target)
	install -m755 -t $(DESTDIR)$(SYSTEMD_DIR)/system-generators units/*-generator
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m644 -t $(DESTDIR)$(PREFIX)/share/man/man1 $(GEN)/man1/*.1
	install -Dm644 -t $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(GEN)/bash/*
	install -Dm644 -t $(DESTDIR)$(ZSH_COMPLETIONS_DIR) $(GEN)/zsh/*
	install -Dm644 -t $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d $(GEN)/fish/*
	install -Dm644 -t $(DESTDIR)$(PREFIX)/share/doc/bootdeploy README.md docs/*.md
	for d in check/required.d check/wanted.d green.d red.d boot-health.conf.d; do \
	  install -d $(DESTDIR)$(SYSCONFDIR)/boot-health/$$d || exit 1; done
	[ -e $(DESTDIR)$(SYSCONFDIR)/boot-health/boot-health.conf ] || \
	  install -m644 etc/boot-health/boot-health.conf $(DESTDIR)$(SYSCONFDIR)/boot-health/boot-health.conf
	install -Dm755 etc/grub.d/15_bootdeploy $(DESTDIR)$(SYSCONFDIR)/grub.d/15_bootdeploy

# The Debian package, from this tree (docs/PACKAGING.md): bootdeploy_<version>_<arch>.deb in
# DEB_OUT. Build-Depends lists Debian packages only; the Swift toolchain (/opt/swift, not a
# Debian package) is found on PATH or through SWIFT, and Swift packages come from the offline copies.
DEB_OUT ?= .build-deb
deb:
	scripts/install-deps.sh deb
	scripts/build-deb.sh $(DEB_OUT)

# make deb from a clean clone, the package installed into a copy of the VM suite's Debian root.
check-deb:
	scripts/install-deps.sh deb
	tests/deb/test-package.sh

clean:
	rm -rf .build .build-deb demo
