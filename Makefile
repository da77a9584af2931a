# Build and test shortcuts; scripts/test.sh is the test command CI runs.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test fuzz clean
build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/ferry ./cmd/agent

test:
	bash scripts/test.sh

# Fuzz the config parser for a while (FUZZTIME=10m make fuzz).
FUZZTIME ?= 60s
fuzz:
	go test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./pkg/config

clean:
	rm -rf bin
