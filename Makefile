# orc — the single entry point: build, test, check, bench, install, demo.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= $(HOME)/.local
BINDIR ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/orc
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
# Every target builds into and reads from CARGO_TARGET_DIR when it is set.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
export CARGO_TARGET_DIR := $(TARGET_DIR)
# The binaries `install` copies, and what it builds them with first (tests
# install a debug build: make install BUILD= REL=target/debug).
REL ?= $(TARGET_DIR)/release
BUILD ?= build
# The plugin's files: an installed share directory is a Claude Code plugin.
PLUGIN_FILES := .claude-plugin/plugin.json hooks/hooks.json agents/*.md skills/*/SKILL.md \
  envs/*.env envs/README.md assets/icon.png README.md LICENSE

.PHONY: help build test check fmt lint plugin-check bench bench-big install uninstall demo clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: ## Build the release binaries into $CARGO_TARGET_DIR/release (default target/release)
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

bench-big: build ## orc-spawn on a generated 100,000-file repository vs git worktree add (slow)
	bench/spawn-big

install: $(BUILD) ## Install orc-* into $(BINDIR); the plugin, completions and man pages under $(PREFIX)/share
	@[ -x "$(REL)/orc-spawn" ] || { echo "install: no binaries in $(REL); run make build" >&2; exit 1; }
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(SHAREDIR)/bin" "$(DESTDIR)$(MANDIR)/man1" \
	  "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)" "$(DESTDIR)$(FISHCOMPDIR)"
	for f in "$(REL)"/orc "$(REL)"/orc-*; do \
	  case "$$f" in *.d) ;; *) install -m 0755 "$$f" "$(DESTDIR)$(BINDIR)/";; esac; done
	for f in $(PLUGIN_FILES); do install -D -m 0644 "$$f" "$(DESTDIR)$(SHAREDIR)/$$f"; done
	install -m 0755 bin/orc "$(DESTDIR)$(SHAREDIR)/bin/orc"
	for f in bin/orc-*; do ln -sfn orc "$(DESTDIR)$(SHAREDIR)/$$f"; done
	printf '%s\n' "$(BINDIR)" > "$(DESTDIR)$(SHAREDIR)/bin-dir"
	for t in orc $$(cd "$(REL)" && ls orc-* | grep -v '\.d$$'); do \
	  "$(DESTDIR)$(BINDIR)/orc" man "$$t" > "$(DESTDIR)$(MANDIR)/man1/$$t.1" || exit 1; \
	  "$(DESTDIR)$(BINDIR)/orc" completions bash "$$t" > "$(DESTDIR)$(BASHCOMPDIR)/$$t" || exit 1; \
	  "$(DESTDIR)$(BINDIR)/orc" completions zsh "$$t" > "$(DESTDIR)$(ZSHCOMPDIR)/_$$t" || exit 1; \
	  "$(DESTDIR)$(BINDIR)/orc" completions fish "$$t" > "$(DESTDIR)$(FISHCOMPDIR)/$$t.fish" || exit 1; \
	done
	@echo "installed: $(BINDIR)/orc-*, the plugin in $(SHAREDIR) (claude --plugin-dir $(SHAREDIR))"

uninstall: ## Remove what install put in place
	for t in orc $$(cd "$(DESTDIR)$(BINDIR)" 2>/dev/null && ls orc-* 2>/dev/null); do \
	  rm -f "$(DESTDIR)$(MANDIR)/man1/$$t.1" "$(DESTDIR)$(BASHCOMPDIR)/$$t" \
	    "$(DESTDIR)$(ZSHCOMPDIR)/_$$t" "$(DESTDIR)$(FISHCOMPDIR)/$$t.fish"; done
	rm -f "$(DESTDIR)$(BINDIR)"/orc "$(DESTDIR)$(BINDIR)"/orc-*
	rm -rf "$(DESTDIR)$(SHAREDIR)"

demo: build ## Run an offline end-to-end job with a fake agent
	bench/demo

clean: ## Remove build output
	$(CARGO) clean
