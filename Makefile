# banger — build, test, lint and benchmark.
#
#   make build        static binaries into ./bin (banger, banger-agent, containerd-shim-banger-v2)
#   make test         install what the tests need, then run every test tier and the fuzz targets
#   make fuzz         every fuzz target for FUZZTIME (default 3s) each
#   make lint         golangci-lint (pinned, installed here) and shellcheck
#   make man          man pages of every command into ./man (gitignored)
#   make install      binaries, systemd units, completions, man pages [PREFIX=/usr/local] [DESTDIR=]
#   make uninstall    removes what make install put there (same PREFIX and DESTDIR)
#   make demo         the README's quick start
#   make bench-image  banger's image pipeline vs tar -x + mkfs.ext4 -d
#   make bench-kernel banger kernel import of a .deb vs dpkg-deb + lz4 + cpio by hand
#   make bench-boot   banger run --rm --cold IMG -- true vs a bare QEMU boot of the same guest
#   make bench-build  a 5-step Dockerfile cold and cached; a RUN step vs banger run --rm of its command
#   make bench-start  the same restored from a boot snapshot vs --cold vs bare QEMU, and 5 VMs' memory
#   make bench-fork   a running VM forked 10 times: time to exec vs a new VM, frozen time, memory
#   make bench-stop   banger stop of a VM whose main exits on SIGTERM vs banger kill
#   make bench-volume 200 MiB through run -v (virtio-fs) vs the guest's own disk
#   make bench-layerdiff a disk's changes as a layer (commit, RUN) vs rsync -an of the same two mounts
#   make bench-exec   banger exec VM true vs its parts: process start, an API call, the guest's spawn
#   make bench-containerd ctr run --rm (banger runtime) vs banger run --rm; N containers started each way
#   make bench-cri    N pods started through CRI (crictl runp/create/start) vs N banger run -d, per minute [NET=cni]
#   make qemu-boot-repeat BOOTS=20  boot the QEMU test guest N times
#   make crash-matrix kill a daemon at every crash point; nothing may leak
#   make soak         200 random VM operations with the daemon killed at random

SHELL       := /bin/bash
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X github.com/bangerdev/banger/internal/version.Version=$(VERSION)
TOOLS       := $(CURDIR)/.tools
GOLANGCI    := $(TOOLS)/golangci-lint
GOLANGCI_VERSION := v2.15.0
# Test flags: the suite runs with the race detector; VM tests need time.
TESTFLAGS   ?= -race -timeout 60m
SHELL_FILES := $(shell git ls-files '*.sh' .ci/run 2>/dev/null)

.PHONY: all build deps install uninstall test test-unit fuzz lint lint-go lint-shell man demo bench-image bench-kernel bench-boot bench-build bench-start bench-stop bench-fork bench-volume bench-exec bench-layerdiff bench-containerd bench-cri qemu-boot-repeat crash-matrix soak clean FORCE

all: build

build: bin/banger bin/banger-agent bin/containerd-shim-banger-v2

bin/%: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/$*

# deps installs the Debian packages and Go tools the build, tests and
# benchmarks use; it is idempotent and quick when everything is present.
deps:
	scripts/deps.sh

# test runs every tier (unit, root, VM, contract). Tiers whose needs are
# missing skip with the reason; BANGER_TEST_STRICT=1 (set by .ci/run) turns
# those skips into failures.
test: deps build
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...
	$(MAKE) fuzz

# fuzz runs every fuzz target (func Fuzz... under internal/ and pkg/) for FUZZTIME
# each, on new inputs, not only the seeds `go test` replays.
FUZZTIME ?= 3s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# test-unit runs only what needs neither root nor a VM.
test-unit:
	$(GO) test -short ./...

lint: lint-go lint-shell

# man writes one man page per command (banger.1, banger-run.1, …) from the
# commands' own help; `man -l man/banger-run.1` reads one.
man:
	rm -rf man
	$(GO) run ./internal/tools/mangen man

$(GOLANGCI):
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint-go: $(GOLANGCI)
	$(GOLANGCI) run ./...
	cd test/testcontainers && $(GOLANGCI) run ./...

lint-shell:
	@command -v shellcheck >/dev/null || scripts/deps.sh
	shellcheck -x $(SHELL_FILES)

demo: deps build
	scripts/demo.sh

# bench-image converts a debootstrap'd Debian two ways (banger's pipeline
# through the CLI and daemon, and tar -x + mkfs.ext4 -d) and prints the ratio.
bench-image: deps build
	scripts/bench-image.sh

bench-kernel: deps build
	scripts/bench-kernel.sh

# bench-boot times banger run --rm --cold (a boot, not a snapshot's
# restore: bench-start times those) against a bare QEMU boot of the same
# kernel, initramfs and disk, and prints the ratio and per-phase medians.
# BANGER=path times another build (as bench-stop and bench-volume do).
bench-boot: deps build
	scripts/bench-boot.sh

# bench-build builds a 5-step Dockerfile (three RUNs) on busybox cold and
# cached and times a RUN step against banger run --rm of its command.
bench-build: deps build
	scripts/bench-build.sh

# bench-start times banger run --rm restored from its boot snapshot against
# --cold and a bare QEMU boot, and the memory of 5 VMs each way.
bench-start: deps build
	scripts/bench-start.sh

# bench-fork checkpoints a running VM and starts 10 VMs from it, each timed
# to a working exec against new VMs of the image (restored from the boot
# snapshot), and prints the source's frozen time and the forks' memory.
bench-fork: deps build
	scripts/bench-fork.sh

# bench-stop times banger stop (the main process exits on SIGTERM) against
# banger kill, the floor a stop approaches; BANGER=path times another build.
bench-stop: deps build
	scripts/bench-stop.sh

# bench-volume writes and reads back 200 MiB (1 file, 2,000 files) through a
# -v shared directory and on the guest's disk, and prints the ratio.
bench-volume: deps build
	scripts/bench-volume.sh

# bench-exec times `banger exec VM true` on a running VM against its
# parts side by side (`banger --version`, `banger inspect VM`, an exec on an
# open connection, the guest's own spawn) and prints the breakdown
# `exec --timings` measures; ROUNDS (default 30), BANGER=path as above.
bench-exec: deps build
	scripts/bench-exec.sh

# bench-layerdiff diffs an ext4 image of a Debian minbase against a changed
# copy (layerdiff.Diff, what commit and RUN steps use) and against rsync's
# metadata-only double walk of the same two mounts, and prints the ratio.
bench-layerdiff: deps
	scripts/bench-layerdiff.sh

# bench-containerd times containers run through containerd's banger
# runtime (ctr run --rm) against banger run --rm on the same daemon,
# ROUNDS (default 5) alternated, then N (default 6) containers started
# back to back each way: containers per minute and the ratio.
bench-containerd: deps build
	scripts/bench-containerd.sh

# bench-cri starts N (default 6) host-network pods back to back through
# containerd's CRI plugin on the banger runtime handler (crictl runp,
# create, start of a container running sleep 300; a pod is one VM, its
# container a root in it) against N banger run -d: pods per minute each
# way, the ratio, and the median runp, create and start of a pod. NET=cni
# puts the pods on a CNI bridge network of the bench's own instead (each
# pod's VM in its pod's network namespace).
bench-cri: deps build
	MODE=cri scripts/bench-containerd.sh

# bench-docker-api times `docker run --rm IMG true` through banger's Docker
# Engine API socket (Debian's docker CLI) against `banger run --rm IMG --
# true` on the same daemon, ROUNDS (default 5) alternated, and prints both
# medians and the ratio; then the median time of docker-compose's `up -d`
# + `down -v` of a two-service project (a network, a named volume).
bench-docker-api: deps build
	BANGER_DOCKER_BENCH=$${ROUNDS:-5} $(GO) test -count=1 -v -timeout 30m -run '^(TestDockerRunCost|TestComposeCost)$$' ./internal/e2e/ > .bench-docker-api.log; rc=$$?; \
	grep -E 'docker run --rm:|compose up -d|^(ok|FAIL|---)' .bench-docker-api.log; exit $$rc

# qemu-boot-repeat boots the QEMU echo guest BOOTS times in a row (a
# boot-path change gets a repeat-N check, docs/architecture.md) and prints
# how many reached the guest, the median Start-to-first-agent-byte time
# and QEMU's RSS.
BOOTS ?= 20
qemu-boot-repeat:
	set -o pipefail; BANGER_QEMU_BOOTS=$(BOOTS) $(GO) test -count=1 -v -timeout 60m \
		-run '^TestBootRepeat$$' ./internal/vmm/qemu/ | grep -E 'probe:|boots reached|median|^(---|ok|FAIL)'

# crash-matrix kills a real daemon by SIGKILL at every crash point
# (package crashpoint) and checks the restarted one leaked nothing; it
# prints "crashpoints tried N, passed M, leaks L". CRASHPOINTS='regexp'
# limits the points.
crash-matrix: deps
	set -o pipefail; BANGER_CRASHPOINTS='$(CRASHPOINTS)' $(GO) test -count=1 -v -timeout 60m \
		-run '^TestCrashMatrix$$' ./internal/e2e/crash/ | grep -E 'crashpoints tried|leaks|^(---|ok|FAIL)'

# soak runs SOAK_LOOPS random create/start/exec/stop/rm operations with
# the daemon SIGKILLed at random moments (the test suite runs 15);
# SOAK_SEED replays a run.
SOAK_LOOPS ?= 200
soak: deps
	set -o pipefail; BANGER_SOAK_LOOPS=$(SOAK_LOOPS) BANGER_SOAK_SEED=$(SOAK_SEED) $(GO) test -count=1 -v -timeout 120m \
		-run '^TestSoak$$' ./internal/e2e/crash/ | grep -E 'soak_test|soak loops|^(---|ok|FAIL)'

# install lays banger out under PREFIX (DESTDIR prefixes every path, for
# packaging and the tests): the CLI and daemon in BINDIR with the
# containerd shim (containerd finds it by name on its PATH), the guest
# agent in PREFIX/lib/banger (not a command; the daemon finds it there
# beside ../bin), the systemd units, bash/zsh/fish completion and the man
# pages.
# Every directory below is one systemd, bash-completion, zsh and fish
# search for both /usr and /usr/local.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
AGENTDIR    ?= $(PREFIX)/lib/banger
UNITDIR     ?= $(PREFIX)/lib/systemd/system
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

install: build man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(AGENTDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0755 bin/banger $(DESTDIR)$(BINDIR)/banger
	install -m 0755 bin/containerd-shim-banger-v2 $(DESTDIR)$(BINDIR)/containerd-shim-banger-v2
	install -m 0755 bin/banger-agent $(DESTDIR)$(AGENTDIR)/banger-agent
	sed 's|@BINDIR@|$(BINDIR)|g' dist/systemd/banger.service > $(DESTDIR)$(UNITDIR)/banger.service
	install -m 0644 dist/systemd/banger.socket $(DESTDIR)$(UNITDIR)/banger.socket
	chmod 0644 $(DESTDIR)$(UNITDIR)/banger.service
	bin/banger completion bash > $(DESTDIR)$(BASHCOMPDIR)/banger
	bin/banger completion zsh > $(DESTDIR)$(ZSHCOMPDIR)/_banger
	bin/banger completion fish > $(DESTDIR)$(FISHCOMPDIR)/banger.fish
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	@if [ -z "$(DESTDIR)" ]; then \
		echo "installed; now: sudo banger setup && sudo systemctl daemon-reload && sudo systemctl enable --now banger.socket"; \
	fi

# uninstall removes the files install wrote; state in /var/lib/banger, the
# banger group and the banger-vmm user stay (they are the host's now).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/banger $(DESTDIR)$(BINDIR)/containerd-shim-banger-v2 $(DESTDIR)$(AGENTDIR)/banger-agent \
		$(DESTDIR)$(UNITDIR)/banger.service $(DESTDIR)$(UNITDIR)/banger.socket \
		$(DESTDIR)$(BASHCOMPDIR)/banger $(DESTDIR)$(ZSHCOMPDIR)/_banger $(DESTDIR)$(FISHCOMPDIR)/banger.fish \
		$(DESTDIR)$(MANDIR)/man1/banger.1 $(DESTDIR)$(MANDIR)/man1/banger-*.1
	-rmdir $(DESTDIR)$(AGENTDIR) 2>/dev/null

clean:
	rm -rf bin

FORCE:
