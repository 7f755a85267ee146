# envsync: one CUE declaration per sync, compiled into out/, and one runner.
#
#   make gen    compile syncs/ into out/<environment>/
#   make test   install the test tools if missing, check out/ is up to date,
#               run every test against real servers, promtool and helm
#   make bench  benchmarks, each beside its baseline, as ratios and CPU per
#               GiB, summed up in one table at the end

SHELL := /bin/bash
GOBIN := $(shell go env GOPATH)/bin
# PostgreSQL's server binaries live outside PATH on Debian.
PGBIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin))
export PATH := $(GOBIN):$(PGBIN):$(PATH)

.PHONY: gen vet test tools gen-check unit rules-check chart-check bench build demo schedule-png

build:
	go build -o bin/envsync ./cmd/envsync

gen:
	go run ./cmd/envsync gen

vet:
	go run ./cmd/envsync vet --strict

# tools installs what the tests use when it is missing: Debian packages for
# the database servers, Prometheus and the Pushgateway, and go-installed helm
# and the S3-compatible server.
tools:
	./hack/install-tools.sh

# gen-check fails when the committed out/ differs from what make gen writes.
gen-check: gen
	@if [ -n "$$(git status --porcelain -- out/)" ]; then \
		git status --porcelain -- out/; git diff --stat -- out/; \
		echo "out/ is not up to date: run 'make gen' and commit the result" >&2; exit 1; fi

unit:
	go test -count=1 -timeout 40m ./...

rules-check:
	@for d in out/*/promtool; do promtool check rules "$$d/rules.yaml" || exit 1; done
	@for d in out/*/promtool; do (cd "$$d" && promtool test rules *_test.yaml) || exit 1; done

chart-check:
	@for v in out/*/values.yaml; do helm lint --strict chart/envsync -f "$$v" || exit 1; done

test: tools vet gen-check unit rules-check chart-check

# bench keeps the whole output in bench.out and ends with one table of every
# ratio and CPU-seconds per GiB the benchmarks reported.
bench: tools
	set -o pipefail; go test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 90m ./... | tee bench.out
	@go run ./hack/benchtable bench.out

# schedule-png renders out/schedule.svg, as a browser shows it, into
# docs/schedule.png for the README.
schedule-png: gen
	@size=$$(grep -o 'width="[0-9.]*" height="[0-9.]*"' out/schedule.svg | head -1 | tr -dc '0-9 .='); \
	w=$$(echo "$$size" | cut -d= -f2 | cut -d' ' -f1 | cut -d. -f1); h=$$(echo "$$size" | cut -d= -f3 | cut -d. -f1); \
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --hide-scrollbars \
		--user-data-dir=$$(mktemp -d) --window-size=$$((w + 1)),$$((h + 1)) \
		--screenshot=$(CURDIR)/docs/schedule.png file://$(CURDIR)/out/schedule.svg 2>/dev/null
	@echo "wrote docs/schedule.png"

# demo runs one night of two syncs of the example estate (chat-postgres,
# release-mysql) on local servers started in temporary directories, prints
# where to look (bucket keys, metrics, alerts), then stops everything.
# DEMO_FLAGS=-wait keeps the servers up until Enter, to browse Prometheus.
demo: tools
	go run ./cmd/envsync-demo $(DEMO_FLAGS)
