#!/usr/bin/env bash
# make demo: a live spam incident on a 3-host lab fleet, then the whole runbook over paramiko.
#   MAILOPS_DEMO_HOSTS (default 3), MAILOPS_DEMO_DIR (default reports/demo): where the reports stay.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${MAILOPS_VENVS:-$ROOT/.venv}/ctl-2.19
HOSTS=${MAILOPS_DEMO_HOSTS:-3}
OUT=${MAILOPS_DEMO_DIR:-$ROOT/reports/demo}
export LANG=C.UTF-8 ANSIBLE_COLLECTIONS_PATH=$ROOT/.build ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=False
export ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_PARAMIKO_RECORD_HOST_KEYS=False
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml
LAB_DIR=${MAILOPS_LAB_DIR:-/var/lib/mailops-lab}
INVENTORY=$LAB_DIR/inventory.yml
TRAFFIC_PID=

finish() {
  if [ -n "$TRAFFIC_PID" ]; then kill "$TRAFFIC_PID" 2>/dev/null || true; wait "$TRAFFIC_PID" 2>/dev/null || true; fi
  python3 lab/lab.py down
}
trap finish EXIT
rm -rf "$OUT" && mkdir -p "$OUT"
echo "== the lab: $HOSTS Postfix hosts (h02's Postfix relocated to /opt/postfix/sbin, h03 with long queue IDs)"
python3 lab/lab.py up --hosts "$HOSTS"
echo "== the incident: each host's own quarantine on hold, a junk burst from one account, backscatter, legitimate mail"
python3 lab/incident.py
playbook() {
  "$VENV/bin/ansible-playbook" -c paramiko -i "$INVENTORY" -e @lab/incident-vars.yml "$@"
}
echo "== the fleet before (mailops.postfix.report, paramiko, ansible-core $("$VENV/bin/python" -c 'import ansible; print(ansible.__version__)'))"
playbook mailops.postfix.report -e mailops_report_dir="$OUT/before" -e report_print=false >"$OUT/report-playbook.log"
cat "$OUT/before/report.md"
echo
echo "== live: the compromised account and legitimate senders keep sending (SMTP and local sendmail) during the run"
python3 lab/traffic.py >"$OUT/traffic.log" 2>&1 &
TRAFFIC_PID=$!
echo "== the runbook (mailops.postfix.cleanup): pre-flight, assess, hold + incident window, fix, purge (archived), requeue, verify"
playbook mailops.postfix.cleanup -e mailops_report_dir="$OUT/after" -e report_print=false \
  -e fix_tasks_file="$ROOT/lab/fix-relay.yml" -e purge_fetch_dir="$OUT/archives" >"$OUT/cleanup-playbook.log" \
  || { tail -n 40 "$OUT/cleanup-playbook.log"; exit 1; }
kill "$TRAFFIC_PID"; wait "$TRAFFIC_PID" || true; TRAFFIC_PID=
grep -E '^(PLAY RECAP|[a-z0-9]+ +: ok=)' "$OUT/cleanup-playbook.log"
echo
cat "$OUT/after/report.md"
echo
echo "== what kept arriving during the run (lab/traffic.py)"
grep '^traffic: h' "$OUT/traffic.log"
echo "== checked from outside Ansible, against the incident's ground truth (lab/truth.py)"
python3 lab/truth.py
echo "== reports: $OUT/before, $OUT/after; archives copied to $OUT/archives; playbook logs in $OUT"
