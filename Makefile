# Sluice: the two commands are `make run` and `make test`.
GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...

.PHONY: all build run test bench bench-go bench-quick lint cpu-vs-nginx clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sluice ./cmd/sluice
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sluice-bench ./cmd/sluice-bench

# Starts the gateway on the embedded quickstart (127.0.0.1:8080, admin 127.0.0.1:9901).
run: build
	$(BIN)/sluice run

# Unit, integration and allocation tests, then the race detector on the
# concurrent packages. Needs nothing but Go; tests that need redis-server or
# nginx start them and skip when missing (unless SLUICE_REQUIRE_EXTERNAL=1).
# The open-loop generator's wall-clock rate tests (30 000 and 2 000 req/s
# within 2 %) run last, alone, so no other package's tests share the cores;
# -v prints the rates they achieved.
#
# The tests build with the binary's PGO profile (cmd/sluice/default.pgo,
# which `go build` applies to the sluice binary by itself), so they measure
# the code that ships; SLUICE_PGO=1 tells the TLS allocation test to hold
# crypto/tls to 0 allocations per request (scripts/pgo-profile.sh says why).
# The race pass measures no allocation and keeps its own build cache; vet
# builds with the profile too, so on a cold build cache the packages are
# compiled once for vet, the tests and the binary, not twice.
PGO := -pgo=$(CURDIR)/cmd/sluice/default.pgo

test: lint
	SLUICE_PGO=1 $(GO) test $(PGO) -count=1 -timeout 8m $(PKGS)
	$(GO) test -count=1 -race -timeout 8m -short ./store/... ./proxy/... ./policy/...
	SLUICE_RATE_TEST=1 $(GO) test $(PGO) -count=1 -v -run 'TestOpenLoopHolds' ./bench/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PGO) $(PKGS)

# Go micro-benchmarks with allocations; the bench harness is `make bench`.
bench-go:
	$(GO) test $(PGO) -run '^$$' -bench . -benchmem -count 3 ./proxy/ ./policy/...

# Capacity run: Sluice vs nginx, HAProxy, Caddy and direct; fills BENCHMARKS.md.
# The run is compared with the results it replaces (the committed ones, kept
# in $(BIN)/results-before.json): changes for the worse over 5 % (CPU per
# request among them) are printed as regressions; the run itself stands.
bench: build
	bash scripts/bench-peers.sh
	cp bench/results/results.json $(BIN)/results-before.json
	$(BIN)/sluice-bench run -preset full -gateway $(BIN)/sluice -out bench/results -markdown BENCHMARKS.md
	$(BIN)/sluice-bench compare -threshold 5 $(BIN)/results-before.json bench/results/results.json || \
	  echo "make bench: regressions over 5% against the committed results are listed above"

bench-quick: build
	bash scripts/bench-peers.sh
	$(BIN)/sluice-bench run -preset quick -gateway $(BIN)/sluice -out bench/out

# CPU time per proxied request, Sluice vs nginx, each pinned to one core
# (the harness's method, one scenario; knobs in the script's header).
cpu-vs-nginx: build
	SLUICE_BIN=$(BIN)/sluice SLUICE_BENCH_BIN=$(BIN)/sluice-bench bash scripts/cpu-vs-nginx.sh

clean:
	rm -rf $(BIN)
