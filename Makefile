# homeport: two commands set up a fresh Debian machine.
#   make run    installs what the server needs, migrates, starts it (SQLite under ./data, HTTP :8080)
#   make test   installs what the tests need (Debian packages too) and runs every test
SHELL := /bin/bash
NPM_STAMP := node_modules/.installed-stamp
MOCHA := node_modules/.bin/mocha
# Under CI a skipped (pending) test fails the run.
MOCHA_FLAGS := $(if $(CI),--forbid-pending,)
TESTS ?= test/**/*.test.ts

.PHONY: run test deps-run deps-test typecheck bench clean

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps-run: $(NPM_STAMP)
	bash scripts/setup/debian-packages.sh run

deps-test: $(NPM_STAMP)
	bash scripts/setup/debian-packages.sh test

run: deps-run
	bin/homeport migrate
	exec bin/homeport serve

typecheck: $(NPM_STAMP)
	node_modules/.bin/tsc --noEmit -p .

test: deps-test typecheck
	$(MOCHA) $(MOCHA_FLAGS) '$(TESTS)'

clean:
	rm -rf node_modules test-output
