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
# The CDK stack tests run without -race: they synthesize through jsii in one goroutine, so the detector
# finds nothing there, and a race build of the CDK bindings costs minutes on a cold cache.
NORACE_PKGS := lcauth/infra

.PHONY: help
help: ## List every target with one line on each.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_%-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: setup
setup: node_modules/.package-lock.json chromium ## Install the pinned Node tools (npm ci) and download Go modules; idempotent.
	$(GO) mod download

# The browser tests (e2e/) drive Debian's Chromium at /usr/bin/chromium. CI runs as root on a fresh
# Debian machine; elsewhere sudo is used. Without apt-get only a warning: the browser tests then fail
# and say what is missing.
.PHONY: chromium
chromium: ## Install Debian's chromium for the browser tests if /usr/bin/chromium is missing (apt-get); instant when present.
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "make chromium: /usr/bin/chromium is missing and apt-get is not available; install Chromium there for the browser tests (e2e/)." >&2; exit 0; \
	  fi; \
	  sudo=; if [ "$$(id -u)" -ne 0 ]; then sudo=sudo; fi; \
	  echo "Installing chromium for the browser tests (apt-get)"; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends chromium

# Extra flags for `lcauth dev`, for example DEV_ARGS='-data .lcauth/data' to keep the table across
# restarts (see `go run ./cmd/lcauth dev -h`).
DEV_ARGS ?=

.PHONY: dev
dev: node_modules/.package-lock.json ## Run lcauth locally: dynalite, the LiveChat simulator (or your app with LIVECHAT_CLIENT_ID/SECRET), server on http://localhost:8080, refresher. Ctrl-C stops all.
	@mkdir -p build
	$(GO) build -o build/lcauth ./cmd/lcauth
	exec ./build/lcauth dev $(DEV_ARGS)

.PHONY: build
build: $(addprefix build/,$(addsuffix /bootstrap,$(FUNCTIONS))) ## Build every functions/<name> into build/<name>/bootstrap (static linux/arm64).

# One pattern rule for every Lambda. FORCE lets go's own cache decide what is stale. -buildvcs=false and
# -trimpath keep the commit and the checkout path out of the binary: the same code gives byte-identical
# bootstraps at any commit, so a deploy updates only the functions whose code changed
# (infra/assets_test.go checks it).
LAMBDA_BUILD_FLAGS := -tags lambda.norpc -trimpath -buildvcs=false -ldflags "-s -w -buildid="
build/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build $(LAMBDA_BUILD_FLAGS) -o $@ ./functions/$*

.PHONY: FORCE
FORCE:

.PHONY: lint
lint: ## gofmt check, go vet and staticcheck (pinned in go.mod as a tool).
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$bad" ]; then echo "not gofmt-formatted:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# cfn-lint checks the synthesized templates (infra/cfnlint_test.go, part of make test). It is a Python tool.
CFN_LINT_INSTALL := pip install --user 'cfn-lint>=1.20,<2'   (or: pipx install cfn-lint)

.PHONY: cfn-lint-present
cfn-lint-present: ## Fail early, with the install command, when cfn-lint (needed by make test) is missing.
	@command -v cfn-lint >/dev/null 2>&1 || { echo "make: cfn-lint is missing; make test lints the synthesized templates with it. Install it: $(CFN_LINT_INSTALL)" >&2; exit 1; }

.PHONY: test
test: setup cfn-lint-present lint build ## Everything CI checks: lint, build, all tests (-race except the CDK stack); tests start dynalite, chromium, the RIE themselves.
	$(GO) test -race -count=1 -timeout 20m $(GOTEST_FLAGS) $$($(GO) list ./... | grep -vx '$(NORACE_PKGS)')
	$(GO) test -count=1 -timeout 20m $(GOTEST_FLAGS) ./infra/...

# Packages with benchmarks; each area appends its own (BENCH_PKGS += ./internal/x).
BENCH_PKGS := ./internal/store
BENCH_PKGS += ./internal/sealing
BENCH_PKGS += ./internal/refresh
BENCH_PKGS += ./internal/httpapi
BENCH_PKGS += ./e2e
# The refresh benchmark seeds 1,000 and 10,000 installations and runs a pass over each at 50 and 200 ms
# LiveChat latency (-refresh.due, -refresh.latency to narrow it): minutes, past go test's default 10m on a busy machine.
BENCH_FLAGS ?= -timeout 30m

.PHONY: bench
bench: setup ## Run the benchmarks of BENCH_PKGS; results in bench/out/<UTC time>.txt and bench/out/latest.txt (benchstat-ready).
	@mkdir -p bench/out
	@out=bench/out/$$(date -u +%Y%m%dT%H%M%SZ).txt; \
	  $(GO) test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) $(BENCH_PKGS) | tee $$out; \
	  cp $$out bench/out/latest.txt; echo "results: $$out"

.PHONY: clean
clean: ## Remove build outputs and the CDK output.
	rm -rf build cdk.out

# --- AWS (infra/, cdk.json) ---
CDK        := node_modules/.bin/cdk
CDK_FLAGS  := --no-notices
STACK_NAME ?= Lcauth
# Extra cdk arguments, for example CDK_ARGS='-c alarmEmail=ops@example.com -c refreshFanOut=4'. Per-stack
# settings (account, region, alarm e-mail, domain, throwaway) live in cdk.json "stages", keyed by stack name:
# STACK_NAME=LcauthDev make deploy deploys the dev stage beside the default one.
CDK_ARGS   ?=
# The client id: `make deploy LIVECHAT_CLIENT_ID=...` (or exported). synth/destroy/bootstrap only
# synthesize, so they fall back to an obviously fake id when none is given.
CDK_CLIENT_ID   = $(if $(LIVECHAT_CLIENT_ID),-c livechatClientId=$(LIVECHAT_CLIENT_ID))
CDK_ANY_CLIENT  = -c livechatClientId=$(or $(LIVECHAT_CLIENT_ID),synth-only-not-a-client-id)

.PHONY: synth
synth: node_modules/.package-lock.json build ## Synthesize the stack into cdk.out/ (offline, no AWS credentials; fake client id unless LIVECHAT_CLIENT_ID is set).
	$(CDK) synth $(CDK_FLAGS) --quiet -c stackName=$(STACK_NAME) $(CDK_ANY_CLIENT) $(CDK_ARGS)
	@echo "template: cdk.out/$(STACK_NAME).template.json"

.PHONY: bootstrap
bootstrap: node_modules/.package-lock.json aws-credentials build ## One-time `cdk bootstrap` of the current AWS account and region (needs AWS credentials).
	$(CDK) bootstrap $(CDK_FLAGS) -c stackName=$(STACK_NAME) $(CDK_ANY_CLIENT) $(CDK_ARGS)

.PHONY: deploy
deploy: node_modules/.package-lock.json aws-credentials build ## Build every function, then `cdk deploy` the stack (needs AWS credentials and LIVECHAT_CLIENT_ID).
	$(CDK) deploy $(CDK_FLAGS) -c stackName=$(STACK_NAME) $(CDK_CLIENT_ID) $(CDK_ARGS)

.PHONY: destroy
destroy: node_modules/.package-lock.json aws-credentials build ## `cdk destroy` the stack; the table, its key, the secrets and the logs are kept unless the stage is throwaway.
	$(CDK) destroy $(CDK_FLAGS) -c stackName=$(STACK_NAME) $(CDK_ANY_CLIENT) $(CDK_ARGS)

.PHONY: secret
secret: aws-credentials ## Store the LiveChat client secret in the deployed stack's secret (prompts, or reads LIVECHAT_CLIENT_SECRET).
	@command -v aws >/dev/null 2>&1 || { echo "make secret needs the AWS CLI; without it, run the SetSecretCommand output of make deploy." >&2; exit 1; }
	@arn=$$(aws cloudformation describe-stacks --stack-name "$(STACK_NAME)" --output text \
	    --query "Stacks[0].Outputs[?OutputKey=='ClientSecretArn'].OutputValue") || { \
	  echo "make secret: stack $(STACK_NAME) not found in this account/region: run make deploy first (or set STACK_NAME)." >&2; exit 1; }; \
	if [ -z "$$arn" ] || [ "$$arn" = "None" ]; then echo "make secret: stack $(STACK_NAME) has no ClientSecretArn output." >&2; exit 1; fi; \
	secret="$${LIVECHAT_CLIENT_SECRET:-}"; \
	if [ -z "$$secret" ]; then read -rsp "LiveChat client secret (input hidden): " secret; echo; fi; \
	if [ -z "$$secret" ] || [ "$$secret" = "REPLACE_WITH_LIVECHAT_CLIENT_SECRET" ]; then echo "make secret: no client secret given; nothing changed." >&2; exit 1; fi; \
	printf '%s' "$$secret" | aws secretsmanager put-secret-value --secret-id "$$arn" --secret-string file:///dev/stdin --query VersionId --output text >/dev/null; \
	echo "client secret stored in $$arn; the functions read it within LCAUTH_SECRET_TTL (default 5m)."

.PHONY: cfn-lint
cfn-lint: synth cfn-lint-present ## Synthesize, then lint cdk.out/$(STACK_NAME).template.json with cfn-lint (W3005 is CDK's redundant DependsOn).
	cfn-lint --ignore-checks=W3005 cdk.out/$(STACK_NAME).template.json

.PHONY: webhook-url
webhook-url: aws-credentials ## Print the deployed stack's LiveChat App Webhooks URL (with its secret) to paste into the Developer Console.
	@command -v aws >/dev/null 2>&1 || { echo "make webhook-url needs the AWS CLI." >&2; exit 1; }
	@out() { aws cloudformation describe-stacks --stack-name "$(STACK_NAME)" --output text \
	    --query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue"; }; \
	base=$$(out WebhookEndpoint) && arn=$$(out WebhookSecretArn) || { \
	  echo "make webhook-url: stack $(STACK_NAME) not found in this account/region: run make deploy first (or set STACK_NAME)." >&2; exit 1; }; \
	if [ -z "$$base" ] || [ "$$base" = "None" ] || [ -z "$$arn" ] || [ "$$arn" = "None" ]; then \
	  echo "make webhook-url: stack $(STACK_NAME) has no WebhookEndpoint/WebhookSecretArn output; deploy the current version first." >&2; exit 1; fi; \
	secret=$$(aws secretsmanager get-secret-value --secret-id "$$arn" --query SecretString --output text) || exit 1; \
	echo "$$base?secret=$$secret"

# aws-credentials stops deploy/destroy/bootstrap/secret early, with the fix, when no AWS credentials
# are usable. With the AWS CLI it asks STS; without it, it looks for the usual credential sources.
.PHONY: aws-credentials
aws-credentials: ## Check that AWS credentials are usable (deploy, destroy, bootstrap, secret, webhook-url run it first).
	@if command -v aws >/dev/null 2>&1; then \
	  if ! err=$$(aws sts get-caller-identity --query Account --output text 2>&1 >/dev/null); then \
	    echo "make: no usable AWS credentials: 'aws sts get-caller-identity' failed:" >&2; \
	    echo "  $$(printf '%s' "$$err" | tail -n 1)" >&2; \
	    echo "Configure credentials and a region first (aws configure, aws sso login --profile X with AWS_PROFILE=X," >&2; \
	    echo "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_REGION), then run this again." >&2; \
	    exit 1; \
	  fi; \
	elif [ -z "$${AWS_ACCESS_KEY_ID:-}$${AWS_PROFILE:-}$${AWS_WEB_IDENTITY_TOKEN_FILE:-}$${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}$${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}" ] \
	    && [ ! -f "$${AWS_SHARED_CREDENTIALS_FILE:-$$HOME/.aws/credentials}" ] && [ ! -f "$${AWS_CONFIG_FILE:-$$HOME/.aws/config}" ]; then \
	  echo "make: no AWS credentials found (no AWS_ACCESS_KEY_ID/AWS_PROFILE/web identity/container credentials in the" >&2; \
	  echo "environment, no ~/.aws/credentials or ~/.aws/config) and no AWS CLI to ask. Install the AWS CLI and run" >&2; \
	  echo "'aws configure' (or export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION), then run this again." >&2; \
	  exit 1; \
	fi

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
