# Bespin. `make help` lists the targets.

SQLC_VERSION := v1.31.1
SQLC         := go run github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -s -w -X main.buildVersion=$(VERSION)
GO_TEST_FLAGS ?= -count=1 -timeout 15m
# The console (web/) is built when npm is there; go build works without it.
NPM          := $(shell command -v npm 2>/dev/null)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: dev
dev: services build ## run the server on :3002 with workers, Postgres and Redis made reachable
	./bin/bespin-api serve

.PHONY: test
test: services-nodb ## run the whole test suite against real Postgres and Redis
	go test $(GO_TEST_FLAGS) ./...
	$(MAKE) web-test web-browser

.PHONY: build
build: $(if $(NPM),web) ## build bin/bespin-api (with the console when npm is there)
	go build -ldflags '$(LDFLAGS)' -o bin/bespin-api ./cmd/bespin-api

.PHONY: docker
docker: ## build the bespin-api Docker image, stamped with VERSION
	docker build --build-arg VERSION=$(VERSION) -t bespin-api:$(VERSION) .

.PHONY: generate
generate: ## regenerate River's migrations (sql/migrations) and the sqlc code (db/)
	go generate ./sql/migrations
	$(SQLC) generate
	@if [ -n "$(NPM)" ]; then $(MAKE) web-generate; else echo "npm not found: web/src/api/schema.d.ts not regenerated"; fi

.PHONY: check-generated
check-generated: generate ## fail when generated files differ from what is committed
	@if [ -n "$$(git status --porcelain -- db sql/migrations web/src/api/schema.d.ts)" ]; then \
		git status --porcelain -- db sql/migrations web/src/api/schema.d.ts; git diff -- db sql/migrations web/src/api/schema.d.ts | head -50; \
		echo "generated files are out of date: run 'make generate' and commit"; exit 1; fi

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...

.PHONY: web-deps
web-deps:
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20.19+ (apt-get install nodejs npm)"; exit 1; }
	@if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
		cd web && npm ci --no-audit --no-fund; fi

.PHONY: web
web: web-deps ## build the console (web/dist/console, embedded by go build); prints the JS budget
	cd web && npm run build

.PHONY: web-test
web-test: web-deps ## console component and store tests (Vitest)
	cd web && npm run typecheck && npm test

.PHONY: web-generate
web-generate: web-deps ## regenerate the console's API types from httpapi/openapi.yaml (and validate it)
	cd web && npm run lint:openapi && npm run generate

.PHONY: web-browser
web-browser: web ## browser tests: Playwright + Debian chromium against a real bespin-api
	@scripts/chromium.sh
	go test -tags e2e -count=1 -timeout 10m -v -run TestConsoleInBrowser ./web/e2e

.PHONY: bench
bench: build ## measure Bespin beside its baselines (cmd/bespin-bench)
	go run ./cmd/bespin-bench -bin bin/bespin-api $(BENCH_FLAGS)

.PHONY: services
services: ## make Postgres and Redis reachable (existing, docker compose, or private under .data/)
	@scripts/services.sh

.PHONY: services-nodb
services-nodb:
	@scripts/services.sh --tests

.PHONY: services-stop
services-stop: ## stop private Postgres/Redis started under .data/
	@if [ -f .data/postgres/postmaster.pid ]; then \
		if [ "$$(id -u)" = 0 ]; then runuser -u postgres -- pg_ctl -D .data/postgres stop -m fast; else pg_ctl -D .data/postgres stop -m fast; fi; fi
	@if [ -f .data/redis.pid ]; then kill "$$(cat .data/redis.pid)" && rm -f .data/redis.pid; fi

.PHONY: clean
clean: ## remove build output (keeps .data/)
	rm -rf bin
