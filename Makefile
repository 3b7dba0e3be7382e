# unyo — see README.md. `make run` serves configs/single-node.yaml on the
# embedded default; `make test` installs what the tests need and runs them.
GO      ?= go
BIN     := bin/unyo
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/unyo-ops/unyo/node.Version=$(VERSION)
CONFIG  ?= configs/single-node.yaml
FUZZTIME ?= 30s

.PHONY: all build run test test-deps unit e2e lint fuzz bench tidy-check clean

all: build

# DEBUG=1 keeps symbols and debug information (for a debugger).
ifeq ($(DEBUG),)
BUILDFLAGS := -trimpath -ldflags "-s -w $(LDFLAGS)"
else
BUILDFLAGS := -ldflags "$(LDFLAGS)"
endif

build:
	$(GO) build $(BUILDFLAGS) -o $(BIN) ./cmd/unyo

run: build
	./$(BIN) serve --config $(CONFIG)

test-deps:
	./scripts/test-deps.sh

# The whole suite with the race detector (unit, conformance, end-to-end).
# go test runs vet's high-confidence checks itself; `make lint` runs all of
# vet and gofmt (kept out of here to keep CI's cold build under 15 minutes).
# The end-to-end tests run the real binary: built here first, on all cores,
# as the tests would build it (UNYO_TEST_BINARY; see docs/testing.md).
TESTBIN := bin/unyo-test
test: test-deps
	$(GO) build -o $(TESTBIN) ./cmd/unyo
	UNYO_TEST_BINARY=$(CURDIR)/$(TESTBIN) $(GO) test -race -timeout 12m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# One fuzz target per run (go test -fuzz takes one package at a time).
FUZZ_TARGETS := FuzzParse:./configs/ FuzzPostEvents:./console/ FuzzMaintenanceCron:./alerting/escalation/ \
	FuzzParse:./monitor/syslog/ FuzzTrapDecode:./monitor/trap/ FuzzPrefilter:./monitor/filter/ \
	FuzzV3Header:./monitor/trap/ FuzzParsePHC:./auth/ FuzzVerifierOpen:./jobnet/ FuzzSenderOf:./jobnet/ \
	FuzzSealShared:./configs/ FuzzResolveSecret:./configs/ FuzzForwarded:./cluster/ FuzzAssign:./cluster/ \
	FuzzURL:./internal/redact/ FuzzDSN:./internal/redact/ FuzzOpen:./internal/secretbox/ FuzzSafe:./cli/ \
	FuzzUnmarshal:./internal/jsondur/ FuzzNormalizeArgs:./cli/ \
	FuzzCheck:./internal/oid/ FuzzParsePackages:./agent/inventory/ \
	FuzzTimeChart:./internal/plot/ FuzzReadRecord:./bus/spool/ FuzzLayout:./internal/dag/ \
	FuzzIncidentFilter:./web/ FuzzSafeNext:./web/ FuzzSamplesQuery:./console/ \
	FuzzDecode:./rollout/fleetstate/ FuzzDecodeReport:./rollout/ FuzzParseSignature:./rollout/ \
	FuzzManifestDecode:./rollout/cdc/ FuzzParseSeq:./drill/ \
	FuzzExtractArchive:./backup/ FuzzReadManifest:./backup/ \
	FuzzParse:./runbooks/ FuzzHTML:./runbooks/ FuzzEventJSON:./alerting/incident/ FuzzDecodeJSON:./alerting/incident/ FuzzFastTemplate:./monitor/filter/

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "== $${t%%:*} $${t#*:}"; \
	  $(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) "$${t#*:}" || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./alerting/ledger/... ./internal/plot/ ./internal/dag/ ./test/...

tidy-check:
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean:
	rm -rf bin data configs/data
