# authconform: the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     := bin/authconform
REPORTS ?= reports

export TESTCONTAINERS_RYUK_DISABLED = true

.PHONY: all build run test lint mutants variants bench reference clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/authconform

# Main job: every profile against the embedded reference, three reports.
# Builds the Mosquitto plugin first when the host can, so that iotistica's
# MQTT checks run against a real broker; without it they are not-run and
# the verdict says incomplete (never conformant).
run: build run-prereqs
	$(BIN) run --profile all --json $(REPORTS)/report.json --junit $(REPORTS)/junit.xml --html $(REPORTS)/report.html

.PHONY: run-prereqs
run-prereqs:
	@if [ -f /usr/include/mosquitto_plugin.h ] && command -v gcc >/dev/null && command -v mosquitto >/dev/null; then \
	  $(MAKE) --no-print-directory plugin; \
	else echo "make run: mosquitto, mosquitto-dev or gcc missing: iotistica's MQTT checks will be not-run and its verdict incomplete (apt-get install mosquitto mosquitto-dev gcc)"; fi

# Serve one profile of the reference (PROFILE=roboticks by default).
PROFILE ?= roboticks
reference: build
	$(BIN) reference --profile $(PROFILE) --addr 127.0.0.1:8080 --target-out $(REPORTS)/target-$(PROFILE).yaml

# Every test: lint, unit tests (race detector on the concurrent packages),
# the conformance run, the catalogue check, the mutant matrix, the MQTT and
# container checks. Builds the Mosquitto plugin and the images first when
# the host can; otherwise says why the tests that need them will skip.
test: lint test-prereqs
	$(GO) test -count=1 -timeout 25m ./...
	$(GO) test -count=1 -race -timeout 10m ./reference/... ./spec/... ./loadgen/...
	cd testdata/examples/handler && $(GO) test -count=1 ./...

.PHONY: test-prereqs
test-prereqs: run-prereqs
	@if docker info >/dev/null 2>&1 && [ -f $(PLUGIN) ]; then \
	  $(MAKE) --no-print-directory images; \
	else echo "make test: no Docker engine or no plugin: container checks will skip with their reason"; fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Proof that every MUST check can fail: one run per reference fault.
mutants: test-prereqs
	$(GO) test -count=1 -v -run 'TestMutants|TestEveryMustCheckHasAMutant' ./cmd/authconform

# Proof that no check fails a correct implementation: one run per
# conformant variant of the reference (allowed differences).
variants: test-prereqs
	$(GO) test -count=1 -v -run 'TestVariants' ./cmd/authconform

# key-valid against the reference and a bare net/http handler (each in its
# own child process): max sustainable throughput of both, the generator's
# headroom, and server CPU per request in interleaved trials; last line
# `ratio X.XX` (bare / reference CPU per request). A few minutes. See
# docs/load.md.
bench:
	$(GO) build -o bin/authconform-bench ./loadgen/bench
	bin/authconform-bench $(BENCHFLAGS)

clean:
	rm -rf bin $(REPORTS)

# --- MQTT (mqttauth, ci/images; see docs/mqtt.md) ---------------------------
# The Mosquitto auth plugin needs cgo and Debian's mosquitto-dev headers.
PLUGIN := bin/mosquitto_auth_http.so

.PHONY: plugin images bench-mqtt

plugin: $(PLUGIN)

$(PLUGIN): $(wildcard mqttauth/*.go mqttauth/plugin/*.go mqttauth/plugin/*.c mqttauth/plugin/*.h)
	@test -f /usr/include/mosquitto_plugin.h || { echo "plugin: /usr/include/mosquitto_plugin.h missing; apt-get install -y mosquitto-dev gcc"; exit 2; }
	CGO_ENABLED=1 $(GO) vet -tags mosquittoplugin ./mqttauth/plugin
	CGO_ENABLED=1 $(GO) build -tags mosquittoplugin -buildmode=c-shared -trimpath -o $@ ./mqttauth/plugin
	@rm -f bin/mosquitto_auth_http.h

# Images without a registry (FROM scratch): the static reference binary, and
# the host's Mosquitto + its libraries + the plugin (assemble.sh).
REF_IMAGE  ?= authconform/reference:dev
MOSQ_IMAGE ?= authconform/mosquitto:dev

images: $(PLUGIN)
	@command -v docker >/dev/null || { echo "images: docker not found"; exit 2; }
	CGO_ENABLED=0 $(GO) build -trimpath -o ci/images/reference/build/authconform ./cmd/authconform
	mkdir -p ci/images/reference/build/tmp && chmod 1777 ci/images/reference/build/tmp
	docker build -q --label authconform.image=reference -t $(REF_IMAGE) -f ci/images/reference/Dockerfile ci/images/reference/build
	bash ci/images/mosquitto/assemble.sh $(PLUGIN) ci/images/mosquitto/build
	docker build -q --label authconform.image=mosquitto -t $(MOSQ_IMAGE) ci/images/mosquitto/build

# The CLI as a FROM scratch image (entrypoint /authconform) under the name
# the Kubernetes Jobs in ci/k8s use; no plugin, no registry needed.
IMAGE ?= authconform:latest

.PHONY: image
image:
	@command -v docker >/dev/null || { echo "image: docker not found"; exit 2; }
	CGO_ENABLED=0 $(GO) build -trimpath -o ci/images/authconform/build/authconform ./cmd/authconform
	mkdir -p ci/images/authconform/build/tmp && chmod 1777 ci/images/authconform/build/tmp
	docker build -q --label authconform.image=cli -t $(IMAGE) -f ci/images/authconform/Dockerfile ci/images/authconform/build

# MQTT CONNECT rate, plugin + reference vs Mosquitto's password_file, on
# the host's mosquitto over loopback (exec, not containers: less noise).
# Last line: ratio X.XX (plugin / password_file).
bench-mqtt: build $(PLUGIN)
	$(GO) run ./internal/benchmqtt -authconform $(BIN) -plugin $(PLUGIN)

# --- load generator (loadgen/fast.go; see docs/load.md) ----------------------
# The attacker's own CPU per request: authconform load's fast engine (open
# loop, constant rate) against wrk (closed loop) on the same reference, in
# the same run. Last line: ratio X.XX (ours / wrk; goal <= 2). Skips with
# its reason when wrk is missing (Debian: apt-get install wrk). Timing
# lives here, never in make test.
.PHONY: bench-generator
bench-generator:
	$(GO) build -o bin/authconform-bench ./loadgen/bench
	bin/authconform-bench -generator $(BENCHFLAGS)
