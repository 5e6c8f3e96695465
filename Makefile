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
LDFLAGS := -s -w -extldflags '-Wl,--version-script=$(CURDIR)/preload/exports.map'
BIN := $(BUILD)/keepalive
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := 1.0.0
ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
GODIRS := shim preload test scripts
SOURCES := $(shell find shim preload -name "*.go" -o -name "*.c" -o -name "*.h" -o -name "*.map") go.mod go.sum

.PHONY: all build demo deps test test-safety fuzz bench install uninstall deb clean FORCE
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

$(LIB): $(SOURCES) $(OVERLAY) Makefile
	CGO_ENABLED=1 $(GOCMD) build -trimpath -buildmode=c-shared -overlay $(OVERLAY) \
		-ldflags "$(LDFLAGS)" -o $@ ./preload
	rm -f $(BUILD)/libkeepalive.h

demo: deps $(LIB)
	scripts/demo $(LIB)

deps:
	scripts/deps

test: deps $(LIB) $(BIN)
	$(GOCMD) vet ./...
	test -z "$$(gofmt -l $(GODIRS))" || { gofmt -l $(GODIRS); echo "gofmt: files above need formatting"; exit 1; }
	$(SANITIZE) $(GOCMD) test -asan -count=1 ./shim/...
	KEEPALIVE_LIB=$(CURDIR)/$(LIB) KEEPALIVE_CMD=$(CURDIR)/$(BIN) $(GOCMD) test -count=1 -timeout 20m ./... -v 2>&1 | tee $(BUILD)/test.log | scripts/test-summary

# The host-safety tests alone, for a second toolchain in CI:
# GOTOOLCHAIN=go1.27.3 make test-safety BUILD=build/go1.27.3
SAFETY := ForkAndThreads DoubleForkDaemon Setuid Spawn NoDescriptorsHeld Dlopen CrashStatus SecureExecution \
	SignalDaemons SigchldSignalfd TimeoutCommand NoRuntimeThreads SignalDispositions \
	RuntimeMakesNoDescriptors ResidualLimits EarlySockets InetdService ClosedStderr StderrPipes \
	BadValueUnderLimits HostileConfigFiles AcceptTinyAddressBuffer ArgcZero ReportToSyslog
space := $() $()
test-safety: deps $(LIB) $(BIN)
	$(GOCMD) version $(LIB)
	KEEPALIVE_LIB=$(CURDIR)/$(LIB) KEEPALIVE_CMD=$(CURDIR)/$(BIN) $(GOCMD) test -count=1 -timeout 20m ./test \
		-run '^Test($(subst $(space),|,$(strip $(SAFETY))))$$' -v 2>&1 | tee $(BUILD)/test-safety.log | scripts/test-summary

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

# Costs, side by side in one run: see README's "Costs".
bench: deps $(LIB) $(BIN) $(OVERLAY)
	$(GOCMD) run ./test/bench -lib $(LIB) -cmd $(BIN) -rounds 11 -go $(GOROOT)/bin/go -overlay $(OVERLAY) -ldflags "$(LDFLAGS)"
	$(GOCMD) test ./shim -run '^$$' -bench . -benchtime 20000x

# The library, the command, man pages, a systemd drop-in example and an
# example /etc/keepalive.conf.
install: $(LIB) $(BIN)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/libkeepalive
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libkeepalive.so
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/keepalive
	sed 's|@LIBDIR@|$(PREFIX)/lib|g; s|@DATADIR@|$(PREFIX)/share/libkeepalive|g' scripts/man/keepalive.1 > $(DESTDIR)$(PREFIX)/share/man/man1/keepalive.1
	sed 's|@LIBDIR@|$(PREFIX)/lib|g; s|@DATADIR@|$(PREFIX)/share/libkeepalive|g' scripts/man/libkeepalive.8 > $(DESTDIR)$(PREFIX)/share/man/man8/libkeepalive.8
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
