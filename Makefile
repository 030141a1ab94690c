# homeport: two commands set up a fresh Debian machine.
#   make run    installs what the server needs, builds dist/, migrates, starts it (SQLite under ./data, HTTP :8080)
#   make test   installs what the tests need (Debian packages too) and runs every test
SHELL := /bin/bash
NPM_STAMP := node_modules/.installed-stamp
MOCHA := node_modules/.bin/mocha
# Under CI a skipped (pending) test fails the run.
MOCHA_FLAGS := $(if $(CI),--forbid-pending,)
TESTS ?= test/**/*.test.ts

.PHONY: run build install test lint format soak soak-fuzz soak-crash e2e deps-run deps-test typecheck bench bench-phase bench-http bench-assets bench-storm bench-tftp bench-dhcp bench-start clean

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps-run: $(NPM_STAMP)
	bash scripts/setup/debian-packages.sh run

deps-test: $(NPM_STAMP)
	bash scripts/setup/debian-packages.sh test

# The server as users run it: TypeScript compiled to JavaScript under dist/ (source maps kept,
# views copied), run by bin/homeport with plain node. bin/homeport falls back to the sources
# (tsx) while anything in BUILD_INPUTS is newer than dist/.built: keep the two lists alike.
BUILD_INPUTS := $(shell find server db tsconfig.json tsconfig.build.json)
build: dist/.built

dist/.built: $(NPM_STAMP) $(BUILD_INPUTS)
	sh scripts/setup/build.sh dist

run: deps-run build
	bin/homeport migrate
	exec bin/homeport serve

# As a system service: code in /opt/homeport, the homeport user, /etc/homeport/homeport.yaml,
# /var/lib/homeport and deploy/homeport.service; starts nothing (deploy/install.sh).
# DESTDIR=DIR stages the tree under DIR instead; PREFIX=/opt/homeport by default.
# install.sh compiles into the installed tree itself (as `make build` does into dist/), so it
# never ships a stale dist/ and leaves no root-owned dist/ in the checkout after `sudo make install`.
install: deps-run
	DESTDIR='$(DESTDIR)' PREFIX='$(or $(PREFIX),/opt/homeport)' sh deploy/install.sh

typecheck: $(NPM_STAMP)
	node_modules/.bin/tsc --noEmit -p .

# Code style: Prettier formats, ESLint (typescript-eslint) lints; both run in `make test`.
# `make format` rewrites the tree the way `make lint` wants it.
FORMATTED := 'server/**/*.{ts,mjs,js}' 'test/**/*.ts' 'scripts/**/*.{ts,mjs}' 'db/**/*.ts' eslint.config.js
lint: $(NPM_STAMP)
	node_modules/.bin/prettier --check --log-level warn $(FORMATTED)
	node_modules/.bin/eslint .

format: $(NPM_STAMP)
	node_modules/.bin/prettier --write --log-level warn $(FORMATTED)
	node_modules/.bin/eslint --fix .

test: deps-test typecheck lint
	$(MOCHA) $(MOCHA_FLAGS) '$(TESTS)'

# Long versions of the reliability tests. Each part adds itself as a prerequisite
# (`soak: soak-NAME`, no recipe), so the lines merge. soak-fuzz: 1,000,000 cases
# per parser, 20,000 fuzzed packets per server over real sockets.
soak: soak-fuzz

soak-fuzz: deps-test typecheck
	HOMEPORT_FUZZ_RUNS=1000000 HOMEPORT_FUZZ_SOCKET_PACKETS=20000 $(MOCHA) $(MOCHA_FLAGS) 'test/reliability/fuzz-*.test.ts'

# soak-crash: kill -9 during the phase-report load at 5 random points per database (1 in `make test`).
soak: soak-crash

soak-crash: deps-test typecheck
	SOAK=1 $(MOCHA) $(MOCHA_FLAGS) 'test/reliability/crash-*.test.ts'

# The QEMU end-to-end test alone (also part of `make test`).
e2e: deps-test
	$(MOCHA) $(MOCHA_FLAGS) 'test/e2e/**/*.test.ts'

# Benchmarks: each runs homeport and its reference tool side by side in one run.
bench: bench-phase bench-http bench-assets bench-storm bench-tftp bench-dhcp bench-start

bench-phase: deps-test
	node --import tsx scripts/bench/phase-bench.ts --nodes 1000

bench-http: deps-test
	bash scripts/bench/http-boot-bench.sh

# 50 concurrent downloads of a 32 MiB file from /assets/ next to nginx (1 worker, sendfile).
bench-assets: deps-test
	node --import tsx scripts/bench/asset-bench.ts

# 200 machines at once: entry script, per-node script, kernel, initrd, config, phone-home; nginx serves the same bytes.
bench-storm: deps-test
	node --import tsx scripts/bench/storm-bench.ts

bench-tftp: deps-test
	node --import tsx scripts/bench/tftp-bench.ts

bench-dhcp: deps-test
	node --import tsx scripts/bench/dhcp-bench.ts

# Start time, spawn of `homeport serve` to the first 200 from /healthz: tsx on the sources vs node on dist/.
bench-start: deps-test build
	node --import tsx scripts/bench/start-bench.ts

clean:
	rm -rf node_modules test-output dist
