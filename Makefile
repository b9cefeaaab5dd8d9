# lcauth: every target is listed by `make help` (the text after ## on each rule line).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

GO        ?= go
FUNCTIONS := $(notdir $(wildcard functions/*))
LAMBDA_ARCH ?= arm64
GOTEST_FLAGS ?=

.PHONY: help
help: ## List every target with one line on each.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_%-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: setup
setup: node_modules/.package-lock.json ## Install the pinned Node tools (npm ci) and download Go modules; idempotent.
	$(GO) mod download

.PHONY: build
build: $(addprefix build/,$(addsuffix /bootstrap,$(FUNCTIONS))) ## Build every functions/<name> into build/<name>/bootstrap (static linux/arm64).

# One pattern rule for every Lambda. FORCE lets go's own cache decide what is stale.
build/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" -o $@ ./functions/$*

.PHONY: FORCE
FORCE:

.PHONY: lint
lint: ## gofmt check, go vet and staticcheck (pinned in go.mod as a tool).
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$bad" ]; then echo "not gofmt-formatted:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

.PHONY: test
test: setup lint build ## Everything CI checks: lint, build, and all tests (-race), which start dynalite/chromium themselves.
	$(GO) test -race -count=1 $(GOTEST_FLAGS) ./...

# Packages with benchmarks; each area appends its own (BENCH_PKGS += ./internal/x).
BENCH_PKGS := ./internal/store
BENCH_PKGS += ./internal/sealing
BENCH_PKGS += ./internal/refresh
BENCH_PKGS += ./internal/httpapi
BENCH_FLAGS ?=

.PHONY: bench
bench: setup ## Run the benchmarks of BENCH_PKGS; results in bench/out/<UTC time>.txt and bench/out/latest.txt (benchstat-ready).
	@mkdir -p bench/out
	@out=bench/out/$$(date -u +%Y%m%dT%H%M%SZ).txt; \
	  $(GO) test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) $(BENCH_PKGS) | tee $$out; \
	  cp $$out bench/out/latest.txt; echo "results: $$out"

.PHONY: clean
clean: ## Remove build outputs and the CDK output.
	rm -rf build cdk.out

# --- Fuzzing (internal/*/*_fuzz_test.go; the seed corpora also run in `make test`) ---
FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: ## Run every fuzz target (func Fuzz* in *_fuzz_test.go) for FUZZTIME each (default 30s); findings go to testdata/fuzz/.
	@for f in $$(find internal cmd -name '*_fuzz_test.go' | sort); do \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' $$f); do \
	    echo "== $$name (./$$(dirname $$f), $(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f); \
	  done; \
	done
