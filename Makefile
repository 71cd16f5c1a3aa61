# orc — the single entry point: build, test, check, bench, install, demo.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/orc

.PHONY: help build test check fmt lint bench install uninstall demo clean

help: ## Show the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## Build the release binaries into target/release
	$(CARGO) build --release --locked

test: ## Run every test (unit and integration)
	$(CARGO) test --locked --workspace --all-targets

fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

lint: ## Clippy with warnings as errors
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

check: fmt lint test ## fmt, clippy and the tests: run before every commit

bench: build ## Run the benchmarks and print their figures (see bench/RESULTS.md)
	bench/run

install: build ## Install orc-* into $(BINDIR) and the profiles into $(SHAREDIR)
	install -d "$(BINDIR)" "$(SHAREDIR)/envs"
	for f in target/release/orc target/release/orc-*; do \
	  case "$$f" in *.d) ;; *) install -m 0755 "$$f" "$(BINDIR)/";; esac; done
	install -m 0644 envs/*.env envs/README.md "$(SHAREDIR)/envs/"

uninstall: ## Remove what install put in place
	rm -f "$(BINDIR)"/orc "$(BINDIR)"/orc-*
	rm -rf "$(SHAREDIR)"

demo: build ## Run an offline end-to-end job with a fake agent
	bench/demo

clean: ## Remove build output
	$(CARGO) clean
