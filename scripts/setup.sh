#!/usr/bin/env bash
# Install everything the tests and the demo need on a fresh Debian 12 machine (as root).
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
VENVS=${MAILOPS_VENVS:-$PWD/.venv}
PY313=${MAILOPS_PY313:-$HOME/.pyenv/versions/3.13.0/bin/python3}
PY311=${MAILOPS_PY311:-$HOME/.pyenv/versions/3.11.7/bin/python3}

log() { printf '== %s\n' "$*" >&2; }
# This machine's pip configuration names local index folders that may not exist: drop those notes.
quiet_pip() { grep -v "is ignored: it is neither a file nor a directory" || true; }

need_apt=()
# chromium: the HTML report's browser test; prometheus (promtool) and prometheus-node-exporter: the metrics tests;
# a Java runtime: ansible-rulebook's rule engine (Drools), for the alert-driven run's test.
for pkg in postfix openssh-server iproute2 ca-certificates jq shellcheck git rsync chromium prometheus \
           prometheus-node-exporter openjdk-17-jre-headless; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
# Node.js and npm (for gitlab-ci-local): the machine's own when it has them, else Debian's.
command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # No configuration: the tests and the lab write their own main.cf from the package's pristine files.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string mailops-test.invalid" | debconf-set-selections
  apt-get update -o DPkg::Lock::Timeout=600 -qq
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# The packages' own services are not wanted: the tests start what they use (their own Postfix instances, a
# node_exporter on loopback), so Debian's units are stopped when systemd runs them.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  for unit in prometheus prometheus-node-exporter; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
# The package's own start-up is not wanted: the tests start the instances they use.
if command -v systemctl >/dev/null && systemctl is-active --quiet postfix 2>/dev/null; then
  log "note: a system-managed postfix is running; the tests refuse to touch a main.cf they did not write"
fi

make_venv() {  # name python requirements
  local dir="$VENVS/$1" py="$2" req="$3"
  if [ ! -x "$py" ]; then log "missing interpreter $py"; exit 1; fi
  if [ -f "$dir/.installed" ] && cmp -s "$req" "$dir/.installed"; then return; fi
  log "venv $1 ($($py --version)) from $req"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check -r "$req" 2>&1 | quiet_pip
  cp "$req" "$dir/.installed"
}
make_venv ctl-2.21 "$PY313" requirements/controller-2.21.txt
make_venv ctl-2.19 "$PY311" requirements/controller-2.19.txt
# Event-Driven Ansible (ansible-rulebook) in its own venv: it runs the collection's playbooks with the 2.21 controller's
# ansible-playbook (on PATH in the test).
make_venv eda "$PY311" requirements/eda.txt


# ansible-test --venv / sanity venvs bootstrap pip with a script from a host this network does
# not reach; give it a stand-in that installs the same pip version from PyPI's wheel.
cache=$HOME/.ansible/test/cache
mkdir -p "$cache/pip-wheels"
for venv in ctl-2.21 ctl-2.19; do
  ver=$("$VENVS/$venv/bin/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
  if ! ls "$cache/pip-wheels/pip-$ver-"*.whl >/dev/null 2>&1; then
    log "fetching pip $ver wheel for ansible-test"
    "$VENVS/$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$cache/pip-wheels" "pip==$ver" 2>&1 | quiet_pip
  fi
  cp scripts/get-pip-standin.py "$cache/get_pip_${ver//./_}.py"
done
log "ansible-test pip bootstrap ready"

# gitlab-ci-local runs the shipped GitLab pipeline against the lab in the tests (jobs without an image run in the
# host shell); pinned to a release that runs on Debian 12's Node.js.
GITLAB_CI_LOCAL=4.70.0
if [ "$("$VENVS/npm/node_modules/.bin/gitlab-ci-local" --version 2>/dev/null)" != "$GITLAB_CI_LOCAL" ]; then
  log "npm: gitlab-ci-local $GITLAB_CI_LOCAL"
  npm install --prefix "$VENVS/npm" "gitlab-ci-local@$GITLAB_CI_LOCAL" --no-audit --no-fund --loglevel=error >/dev/null
fi
log "setup complete"
