# Build and test shortcuts; scripts/test.sh is the test command CI runs.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build test fuzz clean
build:
	go build -ldflags "-X main.version=$(VERSION)" -o bin/ferry ./cmd/agent

test:
	bash scripts/test.sh

# Fuzz every parser of outside input, as CI does (scripts/fuzz.sh); longer:
# FUZZTIME=1000000x make fuzz (a count: a duration can fail a target at its
# deadline on a busy machine, go.dev/issue/75804).
fuzz:
	bash scripts/fuzz.sh

clean:
	rm -rf bin
