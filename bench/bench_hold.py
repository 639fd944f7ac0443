# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook's hold phase against a raw hold with and without the same incident window, on one loaded lab host.

The incident benchmark (bench_incident.py) compares the runbook's hold phase with a bare ``postsuper -h ALL``, which
opens no window: mail that arrives after it is not held. This one adds the raw hold that gives the runbook's
guarantee - every message that arrives from now on is held too - as an admin types it. Three sides, on the same
queue, each round in a rotated order, the queue restored before every run:

  raw          postsuper -h ALL
  raw-window   a header_checks table whose one rule HOLDs every message, postconf -e header_checks=regexp:TABLE,
               postfix reload, postsuper -h ALL
  runbook      ansible-playbook mailops.postfix.hold (pre-flight, then the hold phase: postfix_incident opens the
               window - ledger, main.cf, reload, the wait for cleanup processes with the old settings -, then
               postfix_queue_action lists the queues, holds those it takes whole with postsuper -h ALL QUEUE...,
               proves each ID from the hold directory, writes the ledger and counts the junk it held from the
               assessment's verdicts); the phase's seconds from bench/callback_plugins/phase_times.py, the
               pre-flight not counted

The fill is bench_incident's (--scenario login: 100,000 junk from a compromised login with forged senders + 1,000
legitimate, all deferred), then one plan-mode run of the cleanup runbook (changes nothing; its assessment keeps
the verdicts the runbook's hold counts the junk from). Then Postfix is stopped and the queue directories, main.cf
and the runbook's state directory are copied - the queue files as hard links: a short queue ID is made of the file's
inode number, and a copy would make Postfix rename every file at its start (new IDs, the verdicts no longer theirs);
before each run they are copied back (the deferred messages next tried an hour later, as right after the fill),
Postfix started, and the structure check its start leaves running waited for. Every run must leave every message on
hold (counted from the hold directory), or the benchmark stops. Each raw command is timed on its own, and each of the
runbook's module runs on the host (GNU time around the host's Python).

    python bench/bench_hold.py [--rounds 3] [--junk 100000] [--legitimate 1000] [--out DIR] [--keep]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_incident  # noqa: E402
from bench_incident import LOGIN, fresh_fill, host_sh, lab, phase_times_env, rss_wrapper, step_seconds  # noqa: E402
from runbook_run import run_cleanup  # noqa: E402

QUEUES = ("incoming", "active", "deferred", "hold", "maildrop", "defer", "bounce", "flush", "trace", "saved", "corrupt")
SPOOL = "/var/spool/postfix"
SNAPSHOT = "/var/backups/bench-hold"
# the queue files' hard links: on the spool's own mount (a link can not cross a mount, even a bind mount)
SPOOL_SNAPSHOT = SPOOL + "/bench-hold"
STATE = "/var/lib/mailops-postfix"

# Postfix stopped, its master gone
STOPPED = """set -e
postfix stop 2>/dev/null
while [ -e {spool}/pid/master.pid ] && kill -0 "$(cat {spool}/pid/master.pid)" 2>/dev/null; do sleep 0.1; done
"""

SNAPSHOT_SCRIPT = STOPPED + """rm -rf {snap} {spool_snap} && mkdir -p {spool_snap} {snap}/state {snap}/etc
for q in {queues}; do [ ! -e {spool}/$q ] || cp -al {spool}/$q {spool_snap}/; done
cp -a {state}/. {snap}/state/
cp -a /etc/postfix/. {snap}/etc/
postfix start 2>/dev/null
"""

RESTORE_SCRIPT = STOPPED + """for q in {queues}; do rm -rf {spool}/$q; [ ! -e {spool_snap}/$q ] || cp -al {spool_snap}/$q {spool}/; done
# a deferred file's time is when it is next tried: an hour ahead, so the queue manager leaves the queue alone
find {spool}/deferred -type f -print0 | xargs -0 -r touch -d @$(( $(date +%s) + 3600 ))
find {state} -mindepth 1 -delete && cp -a {snap}/state/. {state}/
find /etc/postfix -mindepth 1 -delete && cp -a {snap}/etc/. /etc/postfix/
postfix start 2>/dev/null
# postfix-script's start leaves a structure check of every queue running (a background postsuper): a hold right after
# the start competes with it - not what an incident meets
while pgrep -x postsuper >/dev/null; do sleep 0.1; done
sync
"""

# Each raw side marks its start and the end of each of its commands as bench_incident's raw script does
# (STEP name stamp): its parts are timed too.
STEP = 'step() { echo "STEP $1 $(date +%s.%N)"; }\nstep start\n'
RAW = {
    "raw": STEP + """postsuper -h ALL 2>/dev/null
step postsuper
""",
    "raw-window": STEP + """printf '/^/ HOLD incident window (bench)\\n' > /etc/postfix/bench_window.regexp
postconf -e 'header_checks = regexp:/etc/postfix/bench_window.regexp'
step postconf
postfix reload 2>/dev/null
step reload
postsuper -h ALL 2>/dev/null
step postsuper
""",
}


def on_hold():
    return int(host_sh("find %s/hold -type f | wc -l" % SPOOL).strip())


def run_raw(side):
    """(the side's seconds, {command: seconds})"""
    parts, seconds = step_seconds(host_sh(RAW[side]))
    return seconds, parts


def run_phase(args, junk, out_dir):
    """The hold playbook; returns (the hold phase's seconds, each module run's wall seconds on the host)."""
    bench_dir = os.path.join(lab.STATE, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    wrapper, runs_log = rss_wrapper(bench_dir)
    times_file = os.path.join(out_dir, "phase-times.json")
    run = run_cleanup(args.venv, os.path.join(lab.STATE, "inventory.yml"),
                      {"mailops_junk": junk, "ansible_python_interpreter": wrapper},
                      env_extra=phase_times_env(times_file), playbook="mailops.postfix.hold")
    with open(os.path.join(out_dir, "ansible.log"), "w") as handle:
        handle.write(run["output"])
    if run["rc"] != 0:
        raise RuntimeError("the hold playbook failed:\n%s" % run["output"][-5000:])
    with open(times_file) as handle:
        seconds = json.load(handle)["seconds"]
    with open(runs_log) as handle:
        module_runs = [float(line.split()[0]) for line in handle if line.strip() and line.split()[-1].isdigit()]
    return sum(value for name, value in seconds.items() if name.lower() == "hold"), module_runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--junk", type=int, default=100000)
    parser.add_argument("--legitimate", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fill-timeout", type=int, default=3600)
    parser.add_argument("--venv", default=os.path.join(bench_incident.ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--keep", action="store_true",
                        help="leave the lab host up at the end, its queue restored (the snapshot: %s, %s)"
                        % (SPOOL_SNAPSHOT, SNAPSHOT))
    args = parser.parse_args()
    args.scenario = "login"
    os.makedirs(args.out, exist_ok=True)
    total = args.junk + args.legitimate
    junk = {"sasl_username": [LOGIN]}
    fmt = dict(spool=SPOOL, snap=SNAPSHOT, spool_snap=SPOOL_SNAPSHOT, state=STATE, queues=" ".join(QUEUES))
    samples = {"raw": [], "raw-window": [], "runbook": []}
    module_runs = []
    raw_parts = {}
    try:
        fresh_fill(args)
        plan_dir = tempfile.mkdtemp(prefix="hold-plan-", dir=args.out)
        plan = run_cleanup(args.venv, os.path.join(lab.STATE, "inventory.yml"),
                           {"mailops_mode": "plan", "mailops_junk": junk, "mailops_report_dir": plan_dir,
                            "report_print": False})
        if plan["rc"] != 0:
            raise RuntimeError("the plan run failed:\n%s" % plan["output"][-5000:])
        if not host_sh("ls %s/*/verdicts.json 2>/dev/null || true" % STATE).strip():
            raise RuntimeError("the plan run kept no verdicts under %s" % STATE)
        host_sh(SNAPSHOT_SCRIPT.format(**fmt))
        sides = list(samples)
        for number in range(args.rounds):
            order = sides[number % len(sides):] + sides[:number % len(sides)]
            for side in order:
                host_sh(RESTORE_SCRIPT.format(**fmt))
                if on_hold() != 0:
                    raise RuntimeError("the restored queue has messages on hold")
                if side == "runbook":
                    out_dir = tempfile.mkdtemp(prefix="hold-%d-" % number, dir=args.out)
                    seconds, runs = run_phase(args, junk, out_dir)
                    module_runs.append(runs)
                else:
                    seconds, parts = run_raw(side)
                    raw_parts.setdefault(side, []).append(parts)
                held = on_hold()
                if held != total:
                    raise RuntimeError("%s left %d of %d messages on hold" % (side, held, total))
                samples[side].append(seconds)
            print("round %d (%s): %s; the raw sides' commands: %s; the runbook's module runs on the host (s): %s" % (
                number + 1, ", ".join(order), ", ".join("%s %.2f s" % (side, samples[side][-1]) for side in sides),
                "; ".join("%s %s" % (side, " ".join("%s %.2f" % item for item in parts[-1].items()))
                          for side, parts in raw_parts.items()),
                " ".join("%.2f" % value for value in module_runs[-1])), flush=True)
        if args.keep:
            host_sh(RESTORE_SCRIPT.format(**fmt))
    finally:
        if not args.keep:
            subprocess.run([sys.executable, os.path.join(bench_incident.LAB, "lab.py"), "down"], check=False,
                           stdout=subprocess.DEVNULL)
    medians = {side: statistics.median(values) for side, values in samples.items()}
    print("\n%d messages on hold each run, medians of %d: raw %.2f s, raw-window %.2f s, runbook's hold phase %.2f s"
          % (total, args.rounds, medians["raw"], medians["raw-window"], medians["runbook"]))
    print("ratios: runbook / raw %.2f, runbook / raw-window %.2f, raw-window / raw %.2f" % (
        medians["runbook"] / medians["raw"], medians["runbook"] / medians["raw-window"],
        medians["raw-window"] / medians["raw"]))
    with open(os.path.join(args.out, "hold-%d.json" % args.junk), "w") as handle:
        json.dump({"args": vars(args), "seconds": samples, "raw_parts": raw_parts, "module_runs": module_runs,
                   "medians": medians}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
