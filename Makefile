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
GODIRS := shim preload test
SOURCES := $(shell find shim preload -name "*.go" -o -name "*.c" -o -name "*.h" -o -name "*.map") go.mod go.sum

.PHONY: all build demo deps test bench clean
all: build demo

build: $(LIB)

$(OVERLAY): scripts/gen-overlay
	scripts/gen-overlay $(GOROOT) $(BUILD)/_overlay

$(LIB): $(SOURCES) $(OVERLAY) Makefile
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared -overlay $(OVERLAY) \
		-ldflags "$(LDFLAGS)" -o $@ ./preload
	rm -f $(BUILD)/libkeepalive.h

demo: deps $(LIB)
	scripts/demo $(LIB)

deps:
	scripts/deps

test: deps $(LIB)
	$(GO) vet ./...
	test -z "$$(gofmt -l $(GODIRS))" || { gofmt -l $(GODIRS); echo "gofmt: files above need formatting"; exit 1; }
	KEEPALIVE_LIB=$(CURDIR)/$(LIB) $(GO) test -count=1 -timeout 20m ./... -v 2>&1 | tee $(BUILD)/test.log | scripts/test-summary

# Costs, side by side in one run: see README's "Costs".
bench: deps $(LIB)
	$(GO) run ./test/bench -lib $(LIB) -rounds 11

clean:
	rm -rf $(BUILD)
