# authconform: the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     := bin/authconform
PROFILE ?= all

export TESTCONTAINERS_RYUK_DISABLED = true

.PHONY: all build run test unit race lint bench mutants clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/authconform

# Main job (see README).
run: build
	$(BIN) reference --profile roboticks --addr 127.0.0.1:8080

# Every test: lint, unit tests, race tests on the concurrent parts.
test: lint
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build
	@echo "bench: not yet implemented"

clean:
	rm -rf bin reports
