# libkeepalive: `make` builds build/libkeepalive.so and shows it on a real
# program; `make test` runs every test against the built library.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO ?= go
BUILD := build
# The Go that builds: the installed one, or the one GOTOOLCHAIN names (from
# the environment or this command line; GOTOOLCHAIN=go1.27.3 make build).
# `go build -overlay` will not replace files beneath GOMODCACHE, where
# GOTOOLCHAIN puts the toolchains it fetches, so such a toolchain builds from
# a copy of itself outside it, made once under build/.
GOINFO := $(shell $(if $(GOTOOLCHAIN),GOTOOLCHAIN=$(GOTOOLCHAIN)) $(GO) env GOROOT GOMODCACHE GOVERSION)
GOVERSION := $(word 3,$(GOINFO))
ifeq ($(filter $(word 2,$(GOINFO))/%,$(word 1,$(GOINFO))),)
GOROOT := $(word 1,$(GOINFO))
GOCMD := $(GO)
else
GOROOT := $(CURDIR)/build/goroot-$(GOVERSION)
GOCMD := GOROOT=$(GOROOT) GOTOOLCHAIN=local $(GOROOT)/bin/go
endif
# Holds the Go version and root, and changes only when they do: switching
# toolchains rebuilds everything.
GOSTAMP := $(BUILD)/go-toolchain
LIB := $(BUILD)/libkeepalive.so
OVERLAY := $(BUILD)/_overlay/overlay.json
# The version script keeps every symbol but the wrapped calls inside the
# library: the runtime's C symbols can neither interpose on a host's own nor
# collide with another Go library in the same process. The Go runtime never
# starts in a host (scripts/gen-overlay), so it needs no GODEBUG defaults.
# STRIPFLAGS: no symbol table or DWARF in what ships; test/ builds the
# library with STRIPFLAGS= to read its symbols (TestLibraryHoldsNoTestCode).
STRIPFLAGS := -s -w
# The SONAME: the packages install the library as libkeepalive.so.1 with the
# preload name libkeepalive.so beside it (scripts/package).
# --hash-style=both: a .hash section beside .gnu.hash, as rpmlint asks of
# every shared library (missing-hash-section).
SONAME := libkeepalive.so.1
LDFLAGS := $(STRIPFLAGS) -extldflags '-Wl,--version-script=$(CURDIR)/preload/exports.map -Wl,-soname,$(SONAME) -Wl,--hash-style=both'
BIN := $(BUILD)/keepalive
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := 1.1.0
ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
GODIRS := shim preload test scripts
SOURCES := $(shell find shim preload -name "*.go" -o -name "*.c" -o -name "*.h" -o -name "*.map") go.mod go.sum

.PHONY: all build cross portable dist demo deps check test test-safety test-systems test-arm64-guest fuzz bench install uninstall installed-files deb clean FORCE
all: build demo

build: $(LIB) $(BIN)

$(GOSTAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(GOVERSION) $(GOROOT)' | cmp -s - $@ || echo '$(GOVERSION) $(GOROOT)' > $@

# Whatever is built, scripts/deps runs first: the library needs gcc (cgo), and
# on a fresh machine deps is what installs it. Order-only, so that it holds
# under make -j and never forces a rebuild.
$(LIB) $(BIN) $(OVERLAY): | deps

$(CURDIR)/build/goroot-%/VERSION:
	rm -rf $(@D) $(@D).tmp
	cp -a $(word 1,$(GOINFO)) $(@D).tmp
	chmod -R u+w $(@D).tmp
	mv $(@D).tmp $(@D)

$(BIN): $(shell find scripts/keepalive shim -name "*.go") go.mod go.sum $(GOSTAMP) $(GOROOT)/VERSION Makefile
	CGO_ENABLED=0 $(GOCMD) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./scripts/keepalive

$(OVERLAY): scripts/gen-overlay $(GOSTAMP) $(GOROOT)/VERSION
	scripts/gen-overlay $(GOROOT) $(BUILD)/_overlay

# Every glibc build links against Debian 11's libc (scripts/sysroot), so it
# needs no symbol version newer than GLIBC_2.17 and loads on any glibc from
# there up. The -L flags keep gcc from linking the machine's own libc behind
# the sysroot's back. -ldl: before glibc 2.34 dlsym, dlerror and dladdr live
# in libdl.so.2, which a host such as /bin/true does not load itself.
SYSROOT := build/sysroot
TRIPLET_amd64 := x86_64-linux-gnu
TRIPLET_arm64 := aarch64-linux-gnu
TRIPLET_i386 := i386-linux-gnu
# The cross compiler's name, where it is not the triplet's.
GCC_i386 := i686-linux-gnu-gcc
glibc_cc = $(if $(filter $(1),$(ARCH)),gcc,$(or $(GCC_$(1)),$(TRIPLET_$(1))-gcc)) --sysroot=$(CURDIR)/$(SYSROOT)/$(1) \
	-L$(CURDIR)/$(SYSROOT)/$(1)/usr/lib/$(TRIPLET_$(1)) -L$(CURDIR)/$(SYSROOT)/$(1)/lib/$(TRIPLET_$(1))
# golib GOARCH CC CGO_LDFLAGS: the library's one recipe, for every target.
golib = CGO_ENABLED=1 GOARCH=$(1) CC="$(2)" CGO_LDFLAGS="-O2 -g $(3)" $(GOCMD) build -trimpath -buildmode=c-shared \
	-overlay $(OVERLAY) -ldflags "$(LDFLAGS)" -o $@ ./preload && rm -f $(@:.so=.h)

# A cache: `make clean` (or removing the directory) renews it.
$(SYSROOT)/%/.done:
	scripts/sysroot $* $(SYSROOT)/$*

$(LIB): $(SOURCES) $(OVERLAY) Makefile $(SYSROOT)/$(ARCH)/.done
	$(call golib,$(ARCH),$(call glibc_cc,$(ARCH)),-ldl)

# The other builds: arm64 and i386 (cross-compiled, same sysroot floor) and
# amd64 on musl (Alpine). The command is static (no cgo), so GOARCH alone
# ports it.
CROSS_LIBS := $(BUILD)/linux-arm64/libkeepalive.so $(BUILD)/linux-i386/libkeepalive.so $(BUILD)/linux-amd64-musl/libkeepalive.so
CROSS_BINS := $(BUILD)/linux-arm64/keepalive $(BUILD)/linux-i386/keepalive
cross: $(CROSS_LIBS) $(CROSS_BINS)

$(BUILD)/linux-arm64/libkeepalive.so: $(SOURCES) $(OVERLAY) Makefile $(SYSROOT)/arm64/.done
	scripts/deps cross
	$(call golib,arm64,$(call glibc_cc,arm64),-ldl)

$(BUILD)/linux-i386/libkeepalive.so: $(SOURCES) $(OVERLAY) Makefile $(SYSROOT)/i386/.done
	scripts/deps cross
	$(call golib,386,$(call glibc_cc,i386),-ldl)

$(BUILD)/linux-amd64-musl/libkeepalive.so: $(SOURCES) $(OVERLAY) Makefile
	scripts/deps cross
	$(call golib,amd64,musl-gcc,)

$(BUILD)/linux-arm64/keepalive: $(shell find scripts/keepalive shim -name "*.go") go.mod go.sum $(GOSTAMP) $(GOROOT)/VERSION
	CGO_ENABLED=0 GOARCH=arm64 $(GOCMD) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./scripts/keepalive

$(BUILD)/linux-i386/keepalive: $(shell find scripts/keepalive shim -name "*.go") go.mod go.sum $(GOSTAMP) $(GOROOT)/VERSION
	CGO_ENABLED=0 GOARCH=386 $(GOCMD) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./scripts/keepalive

# What test/portable_test.go runs them in: qemu-user for arm64, musl-gcc
# drivers, and Debian 11 roots (debootstrap, root only; about a minute and
# 250 MB each, cached) for the amd64 and i386 libraries in real bullseye
# programs (this machine runs 32-bit programs natively).
BULLSEYE := build/bullseye
BULLSEYE_I386 := build/bullseye-i386
PORTABLE_ENV := KEEPALIVE_LIB_ARM64=$(CURDIR)/$(BUILD)/linux-arm64/libkeepalive.so \
	KEEPALIVE_LIB_I386=$(CURDIR)/$(BUILD)/linux-i386/libkeepalive.so KEEPALIVE_BULLSEYE_I386=$(CURDIR)/$(BULLSEYE_I386) \
	KEEPALIVE_LIB_MUSL=$(CURDIR)/$(BUILD)/linux-amd64-musl/libkeepalive.so \
	KEEPALIVE_SYSROOT=$(CURDIR)/$(SYSROOT) KEEPALIVE_BULLSEYE=$(CURDIR)/$(BULLSEYE) KEEPALIVE_DIST=$(CURDIR)/$(BUILD)/dist
portable: $(CROSS_LIBS) $(SYSROOT)/amd64/.done $(SYSROOT)/i386/.done
	scripts/deps cross portable
	if [ "$$(id -u)" = 0 ]; then scripts/sysroot --root $(BULLSEYE) && scripts/sysroot --root $(BULLSEYE_I386) i386; \
	else echo "portable: not root, so no Debian 11 roots: TestBullseye and TestI386 will be SKIPPED LOUDLY"; fi

demo: deps $(LIB)
	scripts/demo $(LIB)

deps:
	scripts/deps

# The quick run: vet, gofmt and the Go packages' own unit tests (config
# parsing, names, sock_diag parsing, apply's races...), without root, the
# library or any download; under a minute (CONTRIBUTING.md).
check:
	$(GOCMD) vet ./...
	test -z "$$(gofmt -l $(GODIRS))" || { gofmt -l $(GODIRS); echo "gofmt: files above need formatting"; exit 1; }
	$(GOCMD) test -count=1 ./shim/... ./scripts/...

test: deps $(LIB) $(BIN) portable dist
	scripts/deps metrics
	$(GOCMD) vet ./...
	test -z "$$(gofmt -l $(GODIRS))" || { gofmt -l $(GODIRS); echo "gofmt: files above need formatting"; exit 1; }
	$(SANITIZE) $(GOCMD) test -asan -count=1 ./shim/...
	KEEPALIVE_LIB=$(CURDIR)/$(LIB) KEEPALIVE_CMD=$(CURDIR)/$(BIN) $(PORTABLE_ENV) $(GOCMD) test -count=1 -timeout 20m ./... -v 2>&1 | tee $(BUILD)/test.log | scripts/test-summary test/expected-skips.txt test

# The host-safety tests alone (every one is named TestSafety...), for a
# second toolchain in CI: GOTOOLCHAIN=go1.27.3 make test-safety BUILD=build/go1.27.3
test-safety: deps $(LIB) $(BIN)
	$(GOCMD) version $(LIB)
	KEEPALIVE_LIB=$(CURDIR)/$(LIB) KEEPALIVE_CMD=$(CURDIR)/$(BIN) $(GOCMD) test -count=1 -timeout 20m ./test \
		-run '^TestSafety' -v 2>&1 | tee $(BUILD)/test-safety.log | scripts/test-summary test/expected-skips.txt test-safety

# Debian 11, 12 and 13 guests under qemu (KVM if it boots here, else TCG),
# each with its own kernel and systemd, the .debs from dist installed with
# dpkg -i: test/systems. The guests are built once per suite by scripts/guest
# and cached in build/guests/SUITE (debootstrap, root only; a few minutes and
# about 1.5 GB each); SUITES picks some.
SUITES ?= bullseye bookworm trixie
# A 32-bit client for the i386 case, against Debian 11's i386 glibc.
$(BUILD)/guests/client32: test/systems/guest/client32.c $(SYSROOT)/i386/.done
	@mkdir -p $(@D)
	$(call glibc_cc,i386) -O1 -Wall -Werror -o $@ $<
test-systems: dist $(BUILD)/guests/client32
	scripts/deps systems
	cd test/systems && KEEPALIVE_SYSTEMS=1 KEEPALIVE_CLIENT32=$(CURDIR)/$(BUILD)/guests/client32 \
		KEEPALIVE_DEBS="$(addprefix $(CURDIR)/$(DIST)/,libkeepalive1_$(VERSION)_amd64.deb libkeepalive1_$(VERSION)_i386.deb keepalive_$(VERSION)_amd64.deb)" \
		KEEPALIVE_GUESTS=$(CURDIR)/$(BUILD)/guests KEEPALIVE_SUITES="$(SUITES)" \
		$(GOCMD) test -count=1 -timeout 30m . -v 2>&1 | tee $(CURDIR)/$(BUILD)/test-systems.log | $(CURDIR)/scripts/test-summary $(CURDIR)/test/expected-skips.txt test-systems

# An arm64 guest: Debian 12's arm64 kernel under qemu-system-aarch64 (TCG)
# with an initramfs, no disk and no init system: the arm64 library preloaded
# into dynamic C programs and the arm64 command's cgroup mode (its BPF
# program JIT-compiled for arm64), test/systems/arm64_test.go. The kernel,
# busybox-static and libc6 come from Debian's archive (scripts/guest-arm64,
# no root, cached in build/guests/arm64). It runs the files of make cross,
# or, with ARM64_DEBS (paths of the two arm64 packages of make dist, as
# .ci/run gives them), those packages unpacked.
ARM64_DEBS ?=
test-arm64-guest: $(BUILD)/linux-arm64/libkeepalive.so $(BUILD)/linux-arm64/keepalive
	scripts/deps arm64-guest
	cd test/systems && KEEPALIVE_ARM64_GUEST=1 KEEPALIVE_ARM64_DEBS="$(abspath $(ARM64_DEBS))" \
		KEEPALIVE_ARM64_LIB=$(CURDIR)/$(BUILD)/linux-arm64/libkeepalive.so \
		KEEPALIVE_ARM64_CMD=$(CURDIR)/$(BUILD)/linux-arm64/keepalive \
		KEEPALIVE_GUESTS=$(CURDIR)/$(BUILD)/guests \
		$(GOCMD) test -count=1 -timeout 15m -run '^TestArm64Guest$$' . -v 2>&1 | tee $(CURDIR)/$(BUILD)/test-arm64-guest.log | $(CURDIR)/scripts/test-summary

# The differential fuzz tests of the C and Go readers and messages,
# FUZZTIME each, first as they are, then with the C parser built under
# AddressSanitizer and UndefinedBehaviorSanitizer (any report aborts).
FUZZTIME ?= 60s
SANITIZE := CGO_CFLAGS="-O1 -g -fsanitize=undefined -fno-sanitize-recover=all" CGO_LDFLAGS="-fsanitize=undefined"
fuzz:
	$(GOCMD) test ./shim -run '^$$' -fuzz '^FuzzConfig$$' -fuzztime $(FUZZTIME)
	$(GOCMD) test ./shim -run '^$$' -fuzz '^FuzzFile$$' -fuzztime $(FUZZTIME)
	$(SANITIZE) $(GOCMD) test -asan ./shim -run '^$$' -fuzz '^FuzzConfig$$' -fuzztime $(FUZZTIME)
	$(SANITIZE) $(GOCMD) test -asan ./shim -run '^$$' -fuzz '^FuzzFile$$' -fuzztime $(FUZZTIME)

# Costs, side by side in one run: see docs/costs.md.
bench: deps $(LIB) $(BIN) $(OVERLAY)
	$(GOCMD) run ./test/bench -lib $(LIB) -cmd $(BIN) -rounds 11 -go $(GOROOT)/bin/go -overlay $(OVERLAY) -ldflags "$(LDFLAGS)" \
		-cc "$(call glibc_cc,$(ARCH))" -cgo-ldflags "-O2 -g -Wl,--no-as-needed -ldl"
	$(GOCMD) test ./shim -run '^$$' -bench . -benchtime 20000x

# The installed files, each as PATH:SOURCE, PATH under the prefix: the
# library, the command, man pages, a systemd drop-in example and an example
# /etc/keepalive.conf; the cgroup mode's systemd examples. LIB and BIN stand
# for the build's library and command. The one list: install, uninstall,
# the release artifacts (which add PACKAGED_DOCS) and the tests (through
# `make -s installed-files`) all read it.
# Drop-ins are examples to copy (they name a service of the operator's);
# whole units go where systemd finds them (PREFIX/lib/systemd/system, which
# systemd reads for /usr and /usr/local alike), disabled until enabled.
CGROUP_UNITS := keepalive-cgroup.conf keepalive-bpfprogram.conf
SYSTEMD_UNITS := keepalive-load@.service keepalive-cgroup@.service keepalive-metrics.service keepalive-metrics.timer
INSTALLED := lib/libkeepalive.so:LIB bin/keepalive:BIN \
	share/man/man1/keepalive.1:scripts/man/keepalive.1 share/man/man8/libkeepalive.8:scripts/man/libkeepalive.8 \
	share/libkeepalive/systemd-keepalive.conf:scripts/systemd/keepalive.conf \
	$(foreach f,$(CGROUP_UNITS),share/libkeepalive/systemd-$(f):scripts/systemd/$(f)) \
	$(foreach f,$(SYSTEMD_UNITS),lib/systemd/system/$(f):scripts/systemd/$(f)) \
	share/libkeepalive/keepalive.conf.example:scripts/keepalive.conf.example
PACKAGED_DOCS := share/doc/libkeepalive/README.md:README.md share/doc/libkeepalive/copyright:LICENSE
paths = $(foreach f,$(1),$(word 1,$(subst :, ,$(f))))
# The one substitution: what the man pages and the systemd examples name
# (@LIBDIR@, @BINDIR@, @DATADIR@, and @PRELOAD@, the LD_PRELOAD line's
# path), for the tree that will be at PREFIX. The line is PREFIX/lib's file,
# except in the packages: there it is PKG_PRELOAD, which the loader expands
# ($LIB) to the library directory of each program's own architecture.
TEMPLATES := scripts/man/% scripts/systemd/%
DOLLAR := $$
PKG_PRELOAD := /usr/$(DOLLAR)LIB/libkeepalive.so
preload_path = $(if $(filter /usr,$(1)),$(PKG_PRELOAD),$(1)/lib/libkeepalive.so)
# dirs_sed PREFIX [PRELOAD]: PRELOAD, when given, is the line's path.
dirs_sed = -e 's|@LIBDIR@|$(1)/lib|g' -e 's|@BINDIR@|$(1)/bin|g' -e 's|@DATADIR@|$(1)/share/libkeepalive|g' \
	-e 's|@PRELOAD@|$(or $(2),$(call preload_path,$(1)))|g'
# install_file ROOT PREFIX LIB BIN PATH SOURCE [PRELOAD]
install_file = $(if $(filter LIB BIN,$(6)),install -m 0755 $(if $(filter LIB,$(6)),$(3),$(4)) $(1)/$(5),$(if \
	$(filter $(TEMPLATES),$(6)),sed $(call dirs_sed,$(2),$(7)) $(6) > $(1)/$(5) && chmod 0644 $(1)/$(5),install -m 0644 $(6) $(1)/$(5)))
# install_tree ROOT PREFIX LIB BIN FILES [PRELOAD]: FILES (PATH:SOURCE) into
# ROOT, the tree that will be at PREFIX, with the library LIB and the
# command BIN (and PRELOAD the line's path, when it is not the prefix's).
define install_tree
install -d $(sort $(patsubst %/,$(1)/%,$(dir $(call paths,$(5)))))
$(foreach f,$(5),$(call install_file,$(1),$(2),$(3),$(4),$(word 1,$(subst :, ,$(f))),$(word 2,$(subst :, ,$(f))),$(6))
)
endef

install: $(LIB) $(BIN)
	$(call install_tree,$(DESTDIR)$(PREFIX),$(PREFIX),$(LIB),$(BIN),$(INSTALLED))

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(call paths,$(INSTALLED)))
	rmdir $(DESTDIR)$(PREFIX)/share/libkeepalive 2>/dev/null || true

# The list for the tests: PATH under the prefix, and where it goes, one a line
# (install: everywhere; package: in the release artifacts only).
installed-files:
	@printf 'install %s\n' $(call paths,$(INSTALLED))
	@printf 'package %s\n' $(call paths,$(PACKAGED_DOCS))

# Release artifacts in build/dist: a tarball per build (one top directory,
# laid out as under /usr/local), and per glibc architecture two .debs
# (libkeepalive1, the library, and keepalive, the command) and an .rpm
# (keepalive), each depending on glibc 2.17, the checked floor, with the
# library where that distribution keeps it (scripts/package). The man pages
# and the examples name where the library will be: the packages'
# LD_PRELOAD=/usr/$LIB/libkeepalive.so line, the tarballs' /usr/local/lib.
# The packages' metadata: MAINTAINER, HOMEPAGE, scripts/changelog.
DIST := $(BUILD)/dist
MAINTAINER ?= libkeepalive maintainers <libkeepalive@users.noreply.github.com>
HOMEPAGE := https://github.com/libkeepalive/libkeepalive
PKG_ARCHES := amd64 arm64 i386
RPMARCH_amd64 := x86_64
RPMARCH_arm64 := aarch64
RPMARCH_i386 := i686
DIST_FILES := $(foreach b,amd64 arm64 i386 amd64-musl,libkeepalive-$(VERSION)-linux-$(b).tar.gz) \
	$(foreach a,$(PKG_ARCHES),libkeepalive1_$(VERSION)_$(a).deb keepalive_$(VERSION)_$(a).deb \
	libkeepalive1-$(VERSION)-1.$(RPMARCH_$(a)).rpm keepalive-$(VERSION)-1.$(RPMARCH_$(a)).rpm)
# stage DIR PREFIX LIB BIN [PRELOAD]: one build's installed tree, and its docs.
define stage
rm -rf $(1)
$(call install_tree,$(1),$(2),$(3),$(4),$(INSTALLED) $(PACKAGED_DOCS),$(5))
endef
# tarball NAME LIB BIN
define tarball
$(call stage,$(DIST).tmp/libkeepalive-$(VERSION)-$(1),/usr/local,$(2),$(3))
install -m 0644 README.md LICENSE $(DIST).tmp/libkeepalive-$(VERSION)-$(1)/
tar -C $(DIST).tmp --owner=0 --group=0 --numeric-owner --sort=name -czf $(DIST)/libkeepalive-$(VERSION)-$(1).tar.gz \
	libkeepalive-$(VERSION)-$(1)
endef
# packages ARCH LIB BIN
define packages
$(call stage,$(DIST).tmp/$(1)/usr,/usr,$(2),$(3))
gzip -9n $(addprefix $(DIST).tmp/$(1)/usr/,$(filter share/man/%,$(call paths,$(INSTALLED))))
MAINTAINER='$(MAINTAINER)' HOMEPAGE='$(HOMEPAGE)' scripts/package deb $(1) $(DIST).tmp/$(1) $(DIST) $(VERSION)
MAINTAINER='$(MAINTAINER)' HOMEPAGE='$(HOMEPAGE)' scripts/package rpm $(1) $(DIST).tmp/$(1) $(DIST) $(VERSION)
endef

# The .apk for Alpine (musl, x86_64) is made by nfpm, a build tool only:
# pinned, built once into build/ from the Go module proxy, never part of
# what ships (README, "Dependencies").
NFPM_VERSION := v2.45.2
NFPM := $(BUILD)/tools/nfpm-$(NFPM_VERSION)
$(NFPM): $(GOSTAMP)
	@mkdir -p $(@D)
	rm -rf $(@D)/bin.tmp
	GOBIN=$(CURDIR)/$(@D)/bin.tmp $(GOCMD) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(@D)/bin.tmp/nfpm $@ && rm -rf $(@D)/bin.tmp
DIST_FILES += libkeepalive-$(VERSION)-r0.x86_64.apk libkeepalive-doc-$(VERSION)-r0.x86_64.apk

dist: $(LIB) $(BIN) $(CROSS_LIBS) $(CROSS_BINS) $(NFPM)
	@[ "$(ARCH)" = amd64 ] || { echo "dist: builds on amd64 only (this is $(ARCH)): the native build is the amd64 one"; exit 1; }
	scripts/deps dist
	rm -rf $(DIST) $(DIST).tmp
	mkdir -p $(DIST) $(DIST).tmp
	$(call tarball,linux-amd64,$(LIB),$(BIN))
	$(call tarball,linux-arm64,$(BUILD)/linux-arm64/libkeepalive.so,$(BUILD)/linux-arm64/keepalive)
	$(call tarball,linux-i386,$(BUILD)/linux-i386/libkeepalive.so,$(BUILD)/linux-i386/keepalive)
	$(call tarball,linux-amd64-musl,$(BUILD)/linux-amd64-musl/libkeepalive.so,$(BIN))
	$(call packages,amd64,$(LIB),$(BIN))
	$(call packages,arm64,$(BUILD)/linux-arm64/libkeepalive.so,$(BUILD)/linux-arm64/keepalive)
	$(call packages,i386,$(BUILD)/linux-i386/libkeepalive.so,$(BUILD)/linux-i386/keepalive)
	$(call stage,$(DIST).tmp/musl/usr,/usr,$(BUILD)/linux-amd64-musl/libkeepalive.so,$(BIN),/usr/lib/libkeepalive.so)
	gzip -9n $(addprefix $(DIST).tmp/musl/usr/,$(filter share/man/%,$(call paths,$(INSTALLED))))
	NFPM=$(CURDIR)/$(NFPM) MAINTAINER='$(MAINTAINER)' HOMEPAGE='$(HOMEPAGE)' scripts/package apk amd64 $(DIST).tmp/musl $(DIST) $(VERSION)
	rm -rf $(DIST).tmp
	missing=; for f in $(DIST_FILES); do [ -s $(DIST)/$$f ] || missing="$$missing $$f"; done; \
	[ -z "$$missing" ] || { echo "dist: not built:$$missing"; exit 1; }
	ls -l $(DIST)

# The native Debian packages, made by dist, also where they always were.
deb: dist
	cp $(DIST)/libkeepalive1_$(VERSION)_$(ARCH).deb $(DIST)/keepalive_$(VERSION)_$(ARCH).deb $(BUILD)/

clean:
	rm -rf $(BUILD)
