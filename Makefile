# orc — the single entry point: build, test, check, bench, install, demo.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/orc

.PHONY: help build test check fmt lint plugin-check bench install uninstall demo clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: ## Build the release binaries into target/release
	$(CARGO) build --release --locked

test: ## Run every test (unit and integration)
	$(CARGO) test --locked --workspace --all-targets

fmt: ## Check formatting
	$(CARGO) fmt --all -- --check

lint: ## Clippy with warnings as errors
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

check: fmt lint test plugin-check ## fmt, clippy, the tests and the plugin gates: run before every commit

CLAUDE_VERSION ?= 2.1.328

plugin-check: ## The plugin's validator gates with the real claude CLI (its load and end-to-end tests run in `make test`)
	@if ! command -v claude >/dev/null; then \
	  if [ -n "$$CI" ]; then echo "plugin-check: claude is required under CI" >&2; exit 1; fi; \
	  echo "plugin-check: skipped: claude is not on PATH (npm install -g @anthropic-ai/claude-code@$(CLAUDE_VERSION))"; \
	  exit 0; \
	fi; \
	set -e; home=$$(mktemp -d); trap 'rm -rf "$$home"' EXIT; \
	echo "claude $$(HOME=$$home claude --version)"; \
	HOME=$$home timeout 120 claude plugin validate . --strict; \
	HOME=$$home timeout 120 claude plugin validate . --profile directory --strict >/dev/null

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
