# Two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/obsshort/shortener/telemetry.Version=$(VERSION) -X github.com/obsshort/shortener/telemetry.Revision=$(REVISION)
BIN := bin

.PHONY: run build deps lint test test-go bench fuzz soak stack stack-down stack-status release replay-incident replay-test-stage release-bin release-rollback image dashboards dashboards-preview

## run: build and start the service on its embedded default (./data/shortener.db)
run:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/shortener ./app/cmd/shortener
	mkdir -p data
	./$(BIN)/shortener

## build: compile the commands into ./bin
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./app/cmd/... ./ci/cmd/...

## image: OCI images of the shortener and the gate, no daemon needed: deploy/out/oci (OCI layout) and deploy/out/<name>.tar (docker load); same commit, same digest
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
PLATFORM ?= linux/amd64
image:
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./deploy/cmd/image --version $(VERSION) --revision $(REVISION) --platform $(PLATFORM) --out deploy/out

## deps: install the Debian packages the tests use (prometheus, haproxy, chromium, ...)
deps:
	bash ci/install-deps.sh

## lint: gofmt, go vet, staticcheck, go.mod tidy, no binaries or files over 1 MB tracked
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) run ./ci/cmd/repocheck
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## test: everything, with -race, installing what the tests need first
test: deps lint test-go fuzz

# The gate's integration tests (ci/gate) and the incident replays
# (ci/cmd/release) judge canaries by their latency and errors under load:
# they run after the other packages, one package at a time, so another
# package's linker or load test does not decide a verdict.
E2E_PKGS := github.com/obsshort/shortener/ci/gate github.com/obsshort/shortener/ci/cmd/release
test-go:
	$(GO) test -race -count=1 -timeout 25m $$($(GO) list ./... | grep -vxF $(foreach p,$(E2E_PKGS),-e $(p)))
	$(GO) test -count=1 -run '^TestRedirectCostGuard$$' ./app/server # ratios the race detector distorts
	$(GO) test -race -count=1 -timeout 25m -p 1 $(E2E_PKGS)

## fuzz: a short fuzz run of each input parser (seed corpora in testdata/fuzz); FUZZTIME=10m for a longer hunt
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidateURL$$' -fuzztime $(FUZZTIME) ./app
	$(GO) test -run '^$$' -fuzz '^FuzzValidateAlias$$' -fuzztime $(FUZZTIME) ./app
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCreateRequest$$' -fuzztime $(FUZZTIME) ./app/server

## soak: 10 minutes of mixed load on the real binary; goroutines, heap and open files must stay flat (SOAK_DURATION=30m to go longer); not part of make test
soak:
	$(GO) test -tags soak -run '^TestSoak$$' -count=1 -timeout 2h -v ./app/faulttest

## bench: measure redirects, telemetry cost, latency, durable creates and scale on this machine (~5 min); table in bench/out/results.md
bench:
	@command -v wrk >/dev/null || bash ci/install-deps.sh
	$(GO) run ./bench/cmd/benchharness

## stack: start the local production stack (Prometheus, Pushgateway, HAProxy, stable app) under .state/stack; idempotent; STORE=postgres: three stable replicas on one PostgreSQL
# Built, not `go run`: the release exit code (0 promoted, 1 rolled back,
# 2 blocked, 3 error) must reach make and CI unchanged.
RELEASE := $(BIN)/release
release-bin:
	@$(GO) build -o $(RELEASE) ./ci/cmd/release
stack: release-bin
	@bash ci/install-deps.sh >/dev/null
	$(RELEASE) stack up $(if $(STORE),--store $(STORE))

## stack-down: stop the local stack (data stays in .state/stack)
stack-down: release-bin
	$(RELEASE) stack down

## stack-status: what runs where, HAProxy weights
stack-status: release-bin
	$(RELEASE) stack status

## release: build, test, smoke, preflight, plan, canary, gate, promote or roll back: make release VERSION=v2 [RELEASE_FLAGS="--fault-error-rate 0.3 --plan=false --steps 10,50"]
release: release-bin
	$(RELEASE) release --version $(VERSION) $(RELEASE_FLAGS)

## release-rollback: roll back a canary an interrupted release left deployed (nothing to do otherwise)
release-rollback: release-bin
	$(RELEASE) rollback

## replay-incident: with the stack up, under load: a v2 failing 30% is rolled back; a canary killed mid-analysis, one failing on one low-traffic route, one slower but under the SLO and one with twice stable's errors are each failed and rolled back; a healthy v2 is promoted; exit 0 only if every check passes
replay-incident: release-bin
	$(RELEASE) replay-incident --skip-tests $(REPLAY_FLAGS)

## replay-test-stage: with the stack up, under load: a change that edits a test's expected value to match broken output, or deletes an assertion, is blocked at the test stage naming the test; one that adds a test is promoted
replay-test-stage: release-bin
	$(RELEASE) replay-test-stage $(REPLAY_FLAGS)

## dashboards: regenerate dashboards/*.json from their Go definitions (dashboards/board)
dashboards:
	$(GO) generate ./dashboards

## dashboards-preview: with the stack up, evaluate every panel against its Prometheus and draw each dashboard in .state/preview/<name>.html (+ .png, via headless Chromium); exit 1 if a panel shows no data
dashboards-preview:
	$(GO) run ./dashboards/cmd/preview $(PREVIEW_FLAGS)
