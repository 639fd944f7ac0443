#!/usr/bin/env bash
# make demo: a live spam incident on a 3-host lab fleet, then the whole runbook over paramiko.
#   MAILOPS_DEMO_HOSTS (default 3), MAILOPS_DEMO_DIR (default reports/demo): where the reports stay,
#   MAILOPS_DEMO_SCENARIO (default login): login - a compromised SASL login sends with forged, rotating envelope
#   senders; script - a web application's local user does, with sendmail; envelope - the junk has its own sender.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${MAILOPS_VENVS:-$ROOT/.venv}/ctl-2.19
HOSTS=${MAILOPS_DEMO_HOSTS:-3}
OUT=${MAILOPS_DEMO_DIR:-$ROOT/reports/demo}
SCENARIO=${MAILOPS_DEMO_SCENARIO:-login}
case "$SCENARIO" in
  login) VARS=lab/incident-vars-login.yml; STORY="a compromised login sending with forged senders" ;;
  script) VARS=lab/incident-vars-script.yml; STORY="a web script sending with sendmail and forged senders" ;;
  envelope) VARS=lab/incident-vars.yml; STORY="a junk burst from one account's own sender, backscatter" ;;
  *) echo "MAILOPS_DEMO_SCENARIO: expected login, script or envelope, got '$SCENARIO'" >&2; exit 2 ;;
esac
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
echo "== the incident ($SCENARIO): each host's own quarantine on hold, $STORY, legitimate mail"
python3 lab/incident.py --scenario "$SCENARIO"
playbook() {
  "$VENV/bin/ansible-playbook" -c paramiko -i "$INVENTORY" -e @"$VARS" "$@"
}
echo "== the fleet before (mailops.postfix.report, paramiko, ansible-core $("$VENV/bin/python" -c 'import ansible; print(ansible.__version__)'))"
playbook mailops.postfix.report -e mailops_report_dir="$OUT/before" -e report_print=false >"$OUT/report-playbook.log"
cat "$OUT/before/report.md"
echo
echo "== live: the junk's sender and legitimate senders keep sending (SMTP and local sendmail) during the run"
python3 lab/traffic.py >"$OUT/traffic.log" 2>&1 &
TRAFFIC_PID=$!
echo "== the junk, as $VARS selects it:"
sed -n '/^[a-z]/,$p' "$VARS"
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
if command -v chromium >/dev/null; then
  PROFILE=$(mktemp -d)
  # a picture of the HTML report, as a browser shows it (chromium headless; nothing can leave the machine)
  chromium --headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --proxy-server=http://127.0.0.1:9 "--host-resolver-rules=MAP * ~NOTFOUND" \
    --user-data-dir="$PROFILE" --window-size=1280,2400 --hide-scrollbars --screenshot="$OUT/after/report.png" \
    "file://$OUT/after/report.html" >/dev/null 2>&1 || true
  rm -rf "$PROFILE"
  [ -f "$OUT/after/report.png" ] && echo "== a screenshot of it: $OUT/after/report.png"
fi
echo "== the report for people: $OUT/after/report.html ($(stat -c %s "$OUT/after/report.html") bytes, one file: open it in a browser)"
