# The voting system: vote (Fiber) → Redis stream → worker → PostgreSQL,
# then NATS → result (Fiber, WebSocket). `make help` lists the targets.

MODULES  := shared vote worker result e2e
SERVICES := vote worker result
PKGS     := ./shared/... ./vote/... ./worker/... ./result/... ./e2e/...
GO       ?= go
STATICCHECK_VERSION := v0.8.2
# What make build stamps in the binaries (-version, build_info): the nearest
# tag, the commits since and the commit (git describe), -dirty for changes.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X livevote/shared/buildinfo.version=$(VERSION) -X livevote/shared/buildinfo.revision=$(REVISION)
# Where make build writes the binaries.
BIN ?= bin
# How long `make fuzz` runs each fuzz test.
FUZZTIME ?= 20s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/vote, bin/worker and bin/result, stamped with VERSION (git describe)
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/$$s ./$$s || exit 1; done

.PHONY: run
run: build ## run the whole system here, dependencies included; Ctrl-C stops it
	@scripts/run.sh

.PHONY: test
test: ## every test (race detector on) against real Redis, PostgreSQL and NATS
	@scripts/test.sh

.PHONY: fuzz
fuzz: ## every Go fuzz test for FUZZTIME each (default 20s), one at a time; make test runs their seeds
	@FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

.PHONY: screenshots
screenshots: ## the browser tests only, saving every page's picture in docs/screenshots/
	@SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots scripts/test.sh -run '^TestBrowser' -v ./e2e/

.PHONY: chaos
chaos: ## the fault suite at full length: kills and restarts under load (make test runs it short)
	@scripts/test.sh -run 'TestChaos' -v ./e2e/ -chaos.full

.PHONY: services
services: ## start Redis, PostgreSQL and NATS where they are not listening yet
	@scripts/services.sh up >/dev/null

.PHONY: bench
bench: build ## the load benchmark: ingest, end to end, latency, 1,000 polls, fan-out; prints its figures
	@scripts/bench.sh $(ARGS)

.PHONY: microbench
microbench: build ## the Go micro-benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

.PHONY: lint
lint: ## go vet, gofmt check and staticcheck on every module
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

.PHONY: tidy
tidy: ## go mod tidy in every module, then go work sync
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy) || exit 1; done
	$(GO) work sync

.PHONY: up
up: ## the same system in containers (docker compose up --build), images stamped with VERSION
	VERSION='$(VERSION)' REVISION='$(REVISION)' docker compose up --build

.PHONY: down
down: ## stop and remove the containers of `make up` and of the seed profile (volumes stay)
	docker compose --profile seed down

.PHONY: clean
clean: ## remove binaries (not .data/, which holds local service data)
	rm -rf bin
