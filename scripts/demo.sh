#!/usr/bin/env bash
# make demo: a spam incident on this machine's test Postfix, then the runbook with the two modules.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MAILOPS_VENVS:-$PWD/.venv}/ctl-2.21
export LANG=C.UTF-8 ANSIBLE_COLLECTIONS_PATH=$PWD/.build ANSIBLE_NOCOLOR=1
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False
echo "== generating the incident (junk burst, backscatter, legitimate mail)"
"$VENV/bin/python" demo/incident.py
echo "== the runbook: assess, hold, fix, purge (archived), requeue, verify"
"$VENV/bin/ansible-playbook" demo/runbook.yml
