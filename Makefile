# Everyday entry points; .ci/run is what CI runs.
#   make test                 go vet and the race-enabled tests
#   make attack               the hostile-client suites only (attack/)
#   make soak SOAK=60s        the soak test for longer
#   make fuzz FUZZTIME=5m     every fuzz target, each for FUZZTIME
#   make scan                 wapiti against the example sites (scripts/scan.sh)

FUZZTIME ?= 1m
SOAK ?= 60s

.PHONY: test attack soak fuzz scan ci

test:
	go vet ./...
	go test -race ./...

attack:
	go test -race ./attack/

soak:
	go test -race ./attack/ -run 'TestSoakLeavesNoGoroutineDescriptorOrSocketBehind$$' -soak=$(SOAK) -v -timeout 0

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

scan:
	bash scripts/scan.sh

ci:
	.ci/run
