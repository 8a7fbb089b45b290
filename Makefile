# Bespin. `make help` lists the targets.

SQLC_VERSION := v1.31.1
SQLC         := go run github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -s -w -X main.buildVersion=$(VERSION)
GO_TEST_FLAGS ?= -count=1 -timeout 15m

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

.PHONY: build
build: ## build bin/bespin-api
	go build -ldflags '$(LDFLAGS)' -o bin/bespin-api ./cmd/bespin-api

.PHONY: docker
docker: ## build the bespin-api Docker image, stamped with VERSION
	docker build --build-arg VERSION=$(VERSION) -t bespin-api:$(VERSION) .

.PHONY: generate
generate: ## regenerate River's migrations (sql/migrations) and the sqlc code (db/)
	go generate ./sql/migrations
	$(SQLC) generate

.PHONY: check-generated
check-generated: generate ## fail when generated files differ from what is committed
	@if [ -n "$$(git status --porcelain -- db sql/migrations)" ]; then \
		git status --porcelain -- db sql/migrations; git diff -- db sql/migrations | head -50; \
		echo "generated files are out of date: run 'make generate' and commit"; exit 1; fi

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...

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
