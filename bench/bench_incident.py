# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The 100,000-message incident on one lab host: the cleanup runbook against the same work by hand.

The fill, the same for both, each time on a fresh lab host (--layout plain: a stock Debian Postfix):
--junk messages from one compromised account (webmaster@example.org) and --legitimate ones from 8
senders, injected with Postfix's smtp-source inside the host into its own smtpd (8 sessions), all
deferred (the relay is dead) before anything is timed.

  runbook  ansible-playbook mailops.postfix.cleanup over ssh (ansible-core 2.21): pre-flight, assess,
           hold (window + hold), fix (access map + the relay back), purge (archive, then delete),
           requeue (window ends, release), verify (waits until the released mail has left
           maildrop/incoming/active), the report; per-phase wall times from bench/callback_plugins.
  raw      one ssh running the same work as a script: postsuper -h ALL; postqueue -j | jq (the junk
           sender) > IDs; per batch of --batch IDs: postcat -q IDS > batch.mbox, sync the file and the
           directory, postsuper -d -; postconf -e relayhost; postfix reload; postsuper -r ALL hold;
           postkick public pickup W; wait until the queue is empty. Per-step times from the script.
           (postsuper -r leaves the mail in maildrop without waking pickup: without the postkick,
           which the runbook's requeue does too, the raw delivery waits 0-60 s for pickup's timer.)

Both are verified the same way: every junk message archived (runbook: the report's archived count;
raw: the envelopes in the batch files), none left, every legitimate message delivered once to the
host's delivery sink, the queue empty. Also reported: the controller's CPU (getrusage of
ansible-playbook and its children) and the peak RSS of every module run on the host (the host's
python runs under GNU time for the benchmark).

    python bench/bench_incident.py [--junk 100000] [--legitimate 1000] [--rounds 1] [--pipelining on|off]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAB = os.path.join(ROOT, "lab")
sys.path.insert(0, LAB)

import lab  # noqa: E402
from runbook_run import run_cleanup  # noqa: E402

HOST = "h01"
JUNK_SENDER = "webmaster@example.org"
LEGIT_SENDERS = ["alice@example.org", "bob@example.org", "billing@example.org", "hr@example.org",
                 "carol@partners.example", "dave@partners.example", "support@example.org", "eve@clients.example"]
RAW_ARCHIVE = "/var/backups/raw-archive"

RAW_SCRIPT = r"""set -e
step() { echo "STEP $1 $(date +%%s.%%N)"; }
step start
postsuper -h ALL 2>/dev/null
step hold
mkdir -p %(archive)s && cd %(archive)s
postqueue -j | jq -r 'select(.sender == "%(junk)s") | .queue_id' > junk.ids
split -l %(batch)d -d -a 5 junk.ids batch-
step list
for ids in batch-*; do
  postcat -q $(cat "$ids") > "$ids.mbox"
  sync "$ids.mbox"; sync .
  postsuper -d - < "$ids" 2>/dev/null
done
step purge
postconf -e 'relayhost=%(relay)s'
postfix reload 2>/dev/null
step fix
postsuper -r ALL hold 2>/dev/null
postkick public pickup W
step requeue
while [ -n "$(postqueue -j | head -c 1)" ]; do sleep 0.2; done
step delivered
"""


def host_sh(script, check=True):
    proc = subprocess.run(lab.enter(HOST) + ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("%s: %s" % (script[:80], proc.stderr.strip()[-2000:]))
    return proc.stdout


def by_queue():
    counts = {}
    for line in host_sh("postqueue -j").splitlines():
        name = json.loads(line)["queue_name"]
        counts[name] = counts.get(name, 0) + 1
    return counts


def fresh_fill(args):
    """A fresh lab host whose queue holds the incident, every message deferred."""
    subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "up", "--hosts", "1", "--layout", "plain"],
                   check=True, stdout=subprocess.DEVNULL)
    start = time.time()
    host_sh("smtp-source -s 8 -m %d -l 2500 -f %s -t user@victim.example -N -S 'Cheap pills' 127.0.0.1:25"
            % (args.junk, JUNK_SENDER))
    per_sender = args.legitimate // len(LEGIT_SENDERS)
    for number, sender in enumerate(LEGIT_SENDERS):
        count = per_sender + (args.legitimate % len(LEGIT_SENDERS) if number == 0 else 0)
        host_sh("smtp-source -s 2 -m %d -l 4000 -f %s -t customer@client%d.example -N -S Invoice 127.0.0.1:25"
                % (count, sender, number))
    total = args.junk + args.legitimate
    deadline = time.time() + args.fill_timeout
    while True:
        counts = by_queue()
        if counts == {"deferred": total}:
            break
        if time.time() > deadline:
            raise RuntimeError("the fill did not settle: %r (expected %d deferred)" % (counts, total))
        time.sleep(5)
    print("  filled: %d deferred in %.0f s" % (total, time.time() - start), flush=True)


def delivered_count():
    return int(host_sh("ls -1 %s | wc -l" % lab.SINK_DIR).strip())


def verify_host(args, archived):
    problems = []
    counts = by_queue()
    if counts:
        problems.append("queue not empty: %r" % counts)
    delivered = delivered_count()
    if delivered != args.legitimate:
        problems.append("delivered %d, not %d" % (delivered, args.legitimate))
    if archived != args.junk:
        problems.append("archived %d, not %d" % (archived, args.junk))
    if problems:
        raise RuntimeError("verification failed: " + "; ".join(problems))
    return delivered


def rss_wrapper(state_dir):
    """A python3 for the host that logs each module run's peak RSS (KiB) - the host sees the lab's state dir."""
    wrapper = os.path.join(state_dir, "python3-rss")
    log = os.path.join(state_dir, "module-rss.log")
    with open(wrapper, "w") as handle:
        handle.write('#!/bin/sh\nexec /usr/bin/time -a -o %s -f "%%M" /usr/bin/python3 "$@"\n' % log)
    os.chmod(wrapper, 0o755)
    if os.path.exists(log):
        os.unlink(log)
    return wrapper, log


def run_runbook(args, out_dir):
    bench_dir = os.path.join(lab.STATE, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    wrapper, rss_log = rss_wrapper(bench_dir)
    times_file = os.path.join(out_dir, "phase-times.json")
    extra = {"mailops_junk": {"sender": [JUNK_SENDER]}, "fix_block_senders": [JUNK_SENDER],
             "fix_tasks_file": os.path.join(LAB, "fix-relay.yml"), "mailops_report_dir": out_dir,
             "report_print": False, "ansible_python_interpreter": wrapper}
    if args.pipelining:
        extra["ansible_pipelining"] = args.pipelining == "on"
    env = {"ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"), "ANSIBLE_CALLBACKS_ENABLED": "phase_times",
           "PHASE_TIMES_FILE": times_file}
    run = run_cleanup(args.venv, os.path.join(lab.STATE, "inventory.yml"), extra, env_extra=env)
    with open(os.path.join(out_dir, "ansible.log"), "w") as handle:
        handle.write(run["output"])
    if run["rc"] != 0:
        raise RuntimeError("the runbook failed:\n%s" % run["output"][-5000:])
    with open(os.path.join(out_dir, "report.json")) as handle:
        report = json.load(handle)
    if report["host_status"] != {"verified": 1}:
        raise RuntimeError("the host was not verified: %r" % report["host_status"])
    host = report["hosts"][HOST]
    archived = host["phases"]["archived"]
    with open(times_file) as handle:
        phases = json.load(handle)
    with open(rss_log) as handle:
        rss = [int(line.split()[-1]) for line in handle if line.strip() and line.split()[-1].isdigit()]
    return {"wall_s": run["wall_s"], "phases_s": phases["seconds"], "tasks": phases["tasks"],
            "controller_cpu_s": run["cpu_s"],
            "module_peak_rss_mib": max(rss) / 1024.0 if rss else None, "module_runs": len(rss),
            "archived": archived, "delivered": verify_host(args, archived)}


def run_raw(args):
    script = RAW_SCRIPT % {"archive": RAW_ARCHIVE, "junk": JUNK_SENDER, "batch": args.batch,
                           "relay": "[127.0.0.1]:%d" % lab.SINK_PORT}
    key = os.path.join(lab.STATE, "id_ed25519")
    start = time.perf_counter()
    proc = subprocess.run(["ssh", "-i", key, "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
                           "-o", "LogLevel=ERROR", "root@" + lab.host_ip(HOST), script],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError("the raw script failed: %s" % proc.stderr[-3000:])
    marks = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("STEP ")]
    steps = dict((name, float(stamp) - float(marks[index][1])) for index, (name, stamp) in enumerate(marks[1:]))
    archived = int(host_sh("cat %s/batch-*.mbox | grep -c '^\\*\\*\\* ENVELOPE RECORDS' || true" % RAW_ARCHIVE).strip())
    return {"wall_s": elapsed, "steps_s": steps, "archived": archived, "delivered": verify_host(args, archived)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--junk", type=int, default=100000)
    parser.add_argument("--legitimate", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000, help="IDs per postcat/postsuper run of the raw script")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pipelining", choices=["on", "off"],
                        help="ssh pipelining (ansible_pipelining as an extra var); default: the lab inventory's (on)")
    parser.add_argument("--fill-timeout", type=int, default=3600)
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    runbook, raw = [], []
    try:
        for number in range(args.rounds):
            print("round %d: runbook" % (number + 1), flush=True)
            fresh_fill(args)
            out_dir = tempfile.mkdtemp(prefix="incident-%d-" % number, dir=args.out)
            runbook.append(run_runbook(args, out_dir))
            print("  runbook %.1f s %s" % (runbook[-1]["wall_s"], json.dumps(runbook[-1]["phases_s"], sort_keys=True)),
                  flush=True)
            print("round %d: raw" % (number + 1), flush=True)
            fresh_fill(args)
            raw.append(run_raw(args))
            print("  raw %.1f s %s" % (raw[-1]["wall_s"], json.dumps(raw[-1]["steps_s"], sort_keys=True)), flush=True)
    finally:
        subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "down"], check=False, stdout=subprocess.DEVNULL)
    runbook_s = statistics.median(run["wall_s"] for run in runbook)
    raw_s = statistics.median(run["wall_s"] for run in raw)
    print("\n%d junk + %d legitimate, medians of %d: runbook %.1f s, raw %.1f s, ratio %.2f; controller CPU %.1f s; "
          "module peak RSS %.0f MiB" % (args.junk, args.legitimate, args.rounds, runbook_s, raw_s, runbook_s / raw_s,
                                        statistics.median(run["controller_cpu_s"] for run in runbook),
                                        max(run["module_peak_rss_mib"] or 0 for run in runbook)))
    print("runbook phases, medians (s): " + ", ".join(
        "%s %.1f" % (name, statistics.median(run["phases_s"].get(name, 0.0) for run in runbook))
        for name in sorted(runbook[0]["phases_s"])))
    print("raw steps, medians (s): " + ", ".join(
        "%s %.1f" % (name, statistics.median(run["steps_s"][name] for run in raw)) for name in raw[0]["steps_s"]))
    with open(os.path.join(args.out, "incident-%d.json" % args.junk), "w") as handle:
        json.dump({"args": vars(args), "runbook": runbook, "raw": raw, "ratio": runbook_s / raw_s}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
