# nubo: `make run` sets up a fresh Debian machine and starts the cloud;
# `make test` sets up and runs every test layer this machine supports.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= /var/lib/nubo
BIND   ?= 127.0.0.1:8770

# Debian packages nubo uses (installed only when missing): the API, the network
# dataplane (iproute2, nftables, dnsmasq; dhcp_release from dnsmasq-utils), instances
# (QEMU, qemu-img, genisoimage for config drives; containers use util-linux), and the
# tools that build the guest images offline from Debian packages (`nubo image build`).
# The tests also need PostgreSQL (the functional suite starts its own throwaway
# cluster), ssh for the system tests that log in to guests, and busybox (udhcpc,
# ping, nslookup inside test namespaces).
APT_PACKAGES      := python3 python3-venv python3-dev gcc iproute2 nftables dnsmasq-base \
	dnsmasq-utils qemu-utils qemu-system-x86 genisoimage e2fsprogs dosfstools mtools \
	syslinux syslinux-common debootstrap util-linux
TEST_APT_PACKAGES := postgresql openssh-client busybox-static

.PHONY: run test lint typecheck bench system-deps test-deps apt-install venv novnc unit functional \
	system compat clean

run: system-deps venv novnc
	$(BIN)/nubo image build tiny --data-dir $(DATA)
	$(BIN)/nubo up --data-dir $(DATA) --bind $(BIND)

system-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-deps: system-deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

venv: system-deps $(STAMP)

# the browser side of remote consoles (npm's @novnc/novnc, integrity-checked)
novnc: venv
	$(BIN)/python tools/fetch_novnc.py

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q tests/unit

functional: test-deps venv
	$(BIN)/pytest -q tests/functional

system: test-deps venv
	$(BIN)/pytest -q -p no:cacheprovider -rs tests/system

compat: test-deps venv
	$(BIN)/python tests/compat/run.py

test: test-deps venv novnc lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/functional
	$(BIN)/pytest -q -p no:cacheprovider -rs tests/system
	$(BIN)/python tests/compat/run.py

bench: system-deps venv
	$(BIN)/python bench/identity.py
	$(BIN)/python bench/image.py
	$(BIN)/python bench/network.py
	$(BIN)/python bench/compute.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
