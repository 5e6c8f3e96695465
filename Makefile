# libkeepalive: `make` builds build/libkeepalive.so and shows it on a real
# program; `make test` runs every test against the built library.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
BUILD := build
LIB := $(BUILD)/libkeepalive.so
OVERLAY := $(BUILD)/_overlay/overlay.json
# Runtime defaults (GODEBUG, which a host's own GODEBUG can still override):
# asynchronous preemption off, which keeps SIGURG blockable on the runtime's
# threads (the library runs no goroutines worth preempting); no
# cgroup-derived GOMAXPROCS and no periodic update of it, which would keep
# two descriptors of the host's open for the life of the process.
# The version script keeps every symbol but the wrapped calls inside the
# library; -z now resolves all of them at load, so nothing the runtime's
# thread calls can wait on the dynamic loader's lock (see preload/README.md).
LDFLAGS := -s -w -X=runtime.godebugDefault=asyncpreemptoff=1,containermaxprocs=0,updatemaxprocs=0 \
	-extldflags '-Wl,--version-script=$(CURDIR)/preload/exports.map -Wl,-z,now'
BIN := $(BUILD)/keepalive
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := 1.0.0
ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
GODIRS := shim preload test scripts
SOURCES := $(shell find shim preload -name "*.go" -o -name "*.c" -o -name "*.h" -o -name "*.map") go.mod go.sum

.PHONY: all build cross demo deps test fuzz bench install uninstall deb clean
all: build demo

build: $(LIB) $(BIN)

$(BIN): $(shell find scripts/keepalive shim -name "*.go") go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $@ ./scripts/keepalive

$(OVERLAY): scripts/gen-overlay
	scripts/gen-overlay $(GOROOT) $(BUILD)/_overlay

# Every glibc build links against Debian 11's libc (scripts/sysroot), so it
# needs no symbol version newer than GLIBC_2.17 and loads on any glibc from
# there up. The -L flags keep gcc from linking the machine's own libc behind
# the sysroot's back. -ldl: before glibc 2.34 dlsym, dlerror and dladdr live
# in libdl.so.2, which a host such as /bin/true does not load itself.
SYSROOT := $(BUILD)/sysroot
TRIPLET_amd64 := x86_64-linux-gnu
TRIPLET_arm64 := aarch64-linux-gnu
glibc_cc = $(if $(filter $(1),$(ARCH)),gcc,$(TRIPLET_$(1))-gcc) --sysroot=$(CURDIR)/$(SYSROOT)/$(1) \
	-L$(CURDIR)/$(SYSROOT)/$(1)/usr/lib/$(TRIPLET_$(1)) -L$(CURDIR)/$(SYSROOT)/$(1)/lib/$(TRIPLET_$(1))
# golib GOARCH CC CGO_LDFLAGS: the library's one recipe, for every target.
golib = CGO_ENABLED=1 GOARCH=$(1) CC="$(2)" CGO_LDFLAGS="-O2 -g $(3)" $(GO) build -trimpath -buildmode=c-shared \
	-overlay $(OVERLAY) -ldflags "$(LDFLAGS)" -o $@ ./preload && rm -f $(@:.so=.h)

$(SYSROOT)/%/.done: scripts/sysroot
	scripts/sysroot $* $(SYSROOT)/$*

$(LIB): $(SOURCES) $(OVERLAY) Makefile $(SYSROOT)/$(ARCH)/.done
	$(call golib,$(ARCH),$(call glibc_cc,$(ARCH)),-ldl)

# The other builds: arm64 (cross-compiled, same sysroot floor) and amd64 on
# musl (Alpine). The command is static (no cgo), so GOARCH alone ports it.
CROSS_LIBS := $(BUILD)/linux-arm64/libkeepalive.so $(BUILD)/linux-amd64-musl/libkeepalive.so
cross: $(CROSS_LIBS) $(BUILD)/linux-arm64/keepalive

$(BUILD)/linux-arm64/libkeepalive.so: $(SOURCES) $(OVERLAY) Makefile $(SYSROOT)/arm64/.done
	scripts/deps cross
	$(call golib,arm64,$(call glibc_cc,arm64),-ldl)

$(BUILD)/linux-amd64-musl/libkeepalive.so: $(SOURCES) $(OVERLAY) Makefile
	scripts/deps cross
	$(call golib,amd64,musl-gcc,)

$(BUILD)/linux-arm64/keepalive: $(shell find scripts/keepalive shim -name "*.go") go.mod go.sum
	CGO_ENABLED=0 GOARCH=arm64 $(GO) build -trimpath -ldflags "-s -w" -o $@ ./scripts/keepalive

demo: deps $(LIB)
	scripts/demo $(LIB)

deps:
	scripts/deps

test: deps $(LIB) $(BIN)
	$(GO) vet ./...
	test -z "$$(gofmt -l $(GODIRS))" || { gofmt -l $(GODIRS); echo "gofmt: files above need formatting"; exit 1; }
	KEEPALIVE_LIB=$(CURDIR)/$(LIB) KEEPALIVE_CMD=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m ./... -v 2>&1 | tee $(BUILD)/test.log | scripts/test-summary

# The differential fuzz tests of the C and Go readers, FUZZTIME each.
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./shim -run '^$$' -fuzz '^FuzzConfig$$' -fuzztime $(FUZZTIME)
	$(GO) test ./shim -run '^$$' -fuzz '^FuzzFile$$' -fuzztime $(FUZZTIME)

# Costs, side by side in one run: see README's "Costs".
bench: deps $(LIB)
	$(GO) run ./test/bench -lib $(LIB) -rounds 11
	$(GO) test ./shim -run '^$$' -bench . -benchtime 20000x

# The library, the command, man pages, a systemd drop-in example and an
# example /etc/keepalive.conf.
install: $(LIB) $(BIN)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/libkeepalive
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libkeepalive.so
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/keepalive
	install -m 0644 scripts/man/keepalive.1 $(DESTDIR)$(PREFIX)/share/man/man1/keepalive.1
	install -m 0644 scripts/man/libkeepalive.8 $(DESTDIR)$(PREFIX)/share/man/man8/libkeepalive.8
	sed 's|@LIBDIR@|$(PREFIX)/lib|' scripts/systemd/keepalive.conf > $(DESTDIR)$(PREFIX)/share/libkeepalive/systemd-keepalive.conf
	install -m 0644 scripts/keepalive.conf.example $(DESTDIR)$(PREFIX)/share/libkeepalive/keepalive.conf.example

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libkeepalive.so $(DESTDIR)$(PREFIX)/bin/keepalive \
		$(DESTDIR)$(PREFIX)/share/man/man1/keepalive.1 $(DESTDIR)$(PREFIX)/share/man/man8/libkeepalive.8 \
		$(DESTDIR)$(PREFIX)/share/libkeepalive/systemd-keepalive.conf \
		$(DESTDIR)$(PREFIX)/share/libkeepalive/keepalive.conf.example
	rmdir $(DESTDIR)$(PREFIX)/share/libkeepalive 2>/dev/null || true

# A Debian package of the same files under /usr.
deb: $(LIB) $(BIN)
	rm -rf $(BUILD)/deb
	$(MAKE) install DESTDIR=$(CURDIR)/$(BUILD)/deb PREFIX=/usr
	gzip -9n $(BUILD)/deb/usr/share/man/man1/keepalive.1 $(BUILD)/deb/usr/share/man/man8/libkeepalive.8
	install -d $(BUILD)/deb/DEBIAN $(BUILD)/deb/usr/share/doc/libkeepalive
	install -m 0644 LICENSE $(BUILD)/deb/usr/share/doc/libkeepalive/copyright
	printf '%s\n' 'Package: libkeepalive' 'Version: $(VERSION)' 'Architecture: $(ARCH)' \
		'Maintainer: libkeepalive authors <libkeepalive@localhost>' 'Depends: libc6 (>= 2.34)' \
		'Section: net' 'Priority: optional' \
		'Description: turn on TCP keepalive in programs that never asked for it' \
		' A preloadable library (LD_PRELOAD) and a keepalive command: legacy daemons' \
		' notice peers that vanished silently. Drop-in for libkeepalive 0.3.' > $(BUILD)/deb/DEBIAN/control
	dpkg-deb --root-owner-group --build $(BUILD)/deb $(BUILD)/libkeepalive_$(VERSION)_$(ARCH).deb

clean:
	rm -rf $(BUILD)
