# mailops.postfix: one entry point for set-up, tests and the demo.
#   make test    everything CI runs (set-up included), on both tested controllers
#   make demo    the runbook on a local lab fleet
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENVS        ?= $(CURDIR)/.venv
COLL         := $(CURDIR)/.build/ansible_collections/mailops/postfix
CONTROLLERS  := 2.21 2.19
PYENV        := $(HOME)/.pyenv/versions
# Every target Python on the machine, for ansible-test's compile and import tests.
TARGET_PYTHONS := $(subst $(eval) ,:,$(wildcard $(PYENV)/3.*/bin))
export LANG := C.UTF-8
export ANSIBLE_NOCOLOR := 1

.PHONY: help setup collection unit sanity ansible-units lint docs-lint galaxy integration molecule test demo bench bench-fleet bench-incident bench-hold clean

help:
	@echo "make test   - set up this machine, then run every test on both controllers"
	@echo "make demo   - the runbook on a local lab fleet (see README)"
	@echo "make bench  - benchmarks against the raw Postfix tools (bench/)"

setup:
	scripts/setup.sh

collection:
	@scripts/collection-tree.sh >/dev/null
	@cd $(COLL) && git init -q . 2>/dev/null || true

# Fast: the pure parser, selector and summary on the real captures, on both controllers' Pythons.
unit: collection
	for c in $(CONTROLLERS); do \
	  echo "== unit tests, controller $$c"; \
	  (cd $(COLL) && PYTHONPATH=$(CURDIR)/.build $(VENVS)/ctl-$$c/bin/python -m pytest -q -p no:cacheprovider tests/unit); \
	done

# ansible-test sanity (validate-modules, pylint, pep8, compile/import on every Python here), no ignore files.
sanity: collection
	test ! -e tests/sanity || ! ls tests/sanity/ignore-*.txt >/dev/null 2>&1
	for c in $(CONTROLLERS); do \
	  echo "== ansible-test sanity, controller $$c"; \
	  (cd $(COLL) && PATH=$(VENVS)/ctl-$$c/bin:$(TARGET_PYTHONS):$$PATH ansible-test sanity --requirements 2>&1 \
	    | grep -v "is ignored: it is neither a file nor a directory"); \
	done

ansible-units: collection
	for c in $(CONTROLLERS); do \
	  echo "== ansible-test units, controller $$c"; \
	  (cd $(COLL) && PATH=$(VENVS)/ctl-$$c/bin:$$PATH ansible-test units --requirements \
	     --python $$($(VENVS)/ctl-$$c/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') 2>&1 \
	    | grep -v "is ignored: it is neither a file nor a directory"); \
	done

# ansible-lint once, on the newest controller (its rules do not depend on the controller; the playbooks'
# syntax on 2.19 is checked by the galaxy target); antsibull-docs on both.
lint: collection
	echo "== ansible-lint (production profile), controller 2.21"
	cd $(COLL) && ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build PATH=$(VENVS)/ctl-2.21/bin:$$PATH ansible-lint --offline --profile production
	for c in $(CONTROLLERS); do \
	  echo "== antsibull-docs lint-collection-docs, controller $$c"; \
	  (cd $(COLL) && PATH=$(VENVS)/ctl-$$c/bin:$$PATH antsibull-docs lint-collection-docs --plugin-docs .); \
	done

# Build the collection tarball, install it into a temporary path, read a module's docs from it.
galaxy: collection
	for c in $(CONTROLLERS); do \
	  echo "== galaxy build + install + ansible-doc, controller $$c"; \
	  tmp=$$(mktemp -d); \
	  PATH=$(VENVS)/ctl-$$c/bin:$$PATH ansible-galaxy collection build --output-path $$tmp $(CURDIR) >/dev/null; \
	  PATH=$(VENVS)/ctl-$$c/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$$tmp/collections ansible-galaxy collection install --offline -p $$tmp/collections $$tmp/mailops-postfix-*.tar.gz >/dev/null; \
	  for m in postfix_queue_info postfix_queue_action; do \
	    ANSIBLE_COLLECTIONS_PATH=$$tmp/collections PATH=$(VENVS)/ctl-$$c/bin:$$PATH \
	      ansible-doc --json mailops.postfix.$$m > $$tmp/doc.json; \
	    $(VENVS)/ctl-$$c/bin/python scripts/check-doc.py $$tmp/doc.json mailops.postfix.$$m \
	      $$tmp/collections/ansible_collections/mailops/postfix/plugins/modules/$$m.py; \
	  done; \
	  for p in cleanup report hold fix purge requeue; do \
	    ANSIBLE_COLLECTIONS_PATH=$$tmp/collections PATH=$(VENVS)/ctl-$$c/bin:$$PATH \
	      ansible-playbook --syntax-check -i localhost, mailops.postfix.$$p >/dev/null; \
	  done; \
	  ! tar -tzf $$tmp/mailops-postfix-*.tar.gz | grep -E '(^|/)(\.venv|\.build|\.git|__pycache__|\.ansible|\.ci)(/|$$)'; \
	  rm -rf $$tmp; echo "ok"; \
	done

# A real Postfix and a real sshd on loopback; modules run through ansible-playbook (ssh on 2.21, paramiko on 2.19).
# The 1,000-message text/JSON comparison and the tests marked controller_independent (target-side behaviour:
# races, back-pressure, archives, ...) run once, on 2.21: the module runs on the target's Python either way.
# 2.19 (paramiko) runs the rest: every connection-level path, the fleet faults and the audit trail.
# A failure on one controller does not skip the other's pass: every failure of the run is reported, and the
# target fails at the end. Every test has a deadline (pytest-timeout), so a hang is a failure, not a stuck CI.
INTEGRATION_TIMEOUT ?= 1200
integration: collection
	rc=0; for c in $(CONTROLLERS); do \
	  echo "== integration, controller $$c"; \
	  skip_large=0; only=""; [ "$$c" = "2.21" ] || { skip_large=1; only="not controller_independent"; }; \
	  (cd tests/integration && MAILOPS_CONTROLLER=$$c MAILOPS_VENVS=$(VENVS) ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build \
	    MAILOPS_SKIP_LARGE=$$skip_large \
	    $(VENVS)/ctl-$$c/bin/python -m pytest -q -p no:cacheprovider --timeout=$(INTEGRATION_TIMEOUT) \
	      --durations=8 -m "$$only" $(PYTEST_ARGS) .) || { echo "== integration FAILED on controller $$c"; rc=1; }; \
	done; exit $$rc

# molecule: the runbook over a 3-host lab (create/destroy = lab up/down), idempotence, ground truth.
molecule: collection
	@echo "== molecule test -s fleet, controller 2.21"
	cd $(COLL) && PATH=$(VENVS)/ctl-2.21/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.build molecule test -s fleet

# Every stage runs, whatever failed before it; the summary lists each stage's result and wall time, and the
# target fails when any stage did. The pure unit tests run once per controller Python, under ansible-test
# (make unit is the quick developer run of the same tests).
TEST_STAGES ?= sanity ansible-units lint galaxy integration molecule
test: setup
	scripts/run-stages.sh $(TEST_STAGES)

demo: setup collection
	scripts/demo.sh

bench: setup collection
	$(VENVS)/ctl-2.21/bin/python bench/bench_info.py

# The cleanup runbook over 1, 5, 10 and 20 lab hosts, against the raw tools over ssh.
bench-fleet: setup collection
	$(VENVS)/ctl-2.21/bin/python bench/bench_fleet.py

# The 100,000-message incident on one lab host: the runbook against the same work with the raw tools.
bench-incident: setup collection
	$(VENVS)/ctl-2.21/bin/python bench/bench_incident.py

# The runbook's hold phase against a raw hold with and without the same incident window (one loaded lab host).
bench-hold: setup collection
	$(VENVS)/ctl-2.21/bin/python bench/bench_hold.py

clean:
	rm -rf .build tests/output
