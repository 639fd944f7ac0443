# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark the cleanup runbook over 1, 5, 10 and 20 lab hosts (forks = hosts).

For each fleet size, from a fresh lab and a fresh incident each time (per host: --junk junk,
--backscatter bounces, --legitimate mail, all deferred):

  runbook   ansible-playbook mailops.postfix.cleanup (ssh, ansible-core 2.21): assess, hold, fix,
            purge with archive, requeue, verify, fleet report
  raw       the same queue work by hand, every host at once (one ssh per host, in parallel):
            postsuper -h ALL; postqueue -j | jq (junk senders) | postsuper -d -; postconf relayhost +
            postfix reload; postsuper -r ALL hold - no archive, no accounting, no report

Reported: wall seconds, the ratio to one host, and runbook / raw at each size.

    python bench/bench_fleet.py [--sizes 1,5,10,20] [--rounds 1]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAB = os.path.join(ROOT, "lab")
sys.path.insert(0, LAB)

import lab  # noqa: E402

RAW_SCRIPT = (
    "set -e; postsuper -h ALL 2>/dev/null; "
    "postqueue -j | jq -r 'select(.sender == \"webmaster@example.org\" or .sender == \"MAILER-DAEMON\") | .queue_id'"
    " | postsuper -d - 2>/dev/null; "
    "postconf -e relayhost=[127.0.0.1]:10026; postfix reload 2>/dev/null; postsuper -r ALL hold 2>/dev/null")


def prepare(size, args):
    subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "up", "--hosts", str(size)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(LAB, "incident.py"), "--junk", str(args.junk),
                    "--backscatter", str(args.backscatter), "--legitimate", str(args.legitimate)],
                   check=True, stdout=subprocess.DEVNULL)


def run_runbook(size, args, report_dir):
    env = dict(os.environ, LANG="C.UTF-8", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build"),
               PATH=os.path.join(args.venv, "bin") + os.pathsep + os.environ["PATH"])
    argv = [os.path.join(args.venv, "bin", "ansible-playbook"), "-f", str(size),
            "-i", os.path.join(lab.STATE, "inventory.yml"), "-e", "@" + os.path.join(LAB, "incident-vars.yml"),
            "-e", json.dumps({"fix_tasks_file": os.path.join(LAB, "fix-relay.yml"), "mailops_report_dir": report_dir,
                              "mailops_hosts": "mailhosts", "report_print": False}),
            "mailops.postfix.cleanup"]
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError("the runbook failed on %d hosts:\n%s" % (size, proc.stdout[-5000:]))
    with open(os.path.join(report_dir, "report.json")) as handle:
        report = json.load(handle)
    if report["host_status"] != {"verified": size}:
        raise RuntimeError("not every host verified: %r" % report["host_status"])
    return elapsed


def run_raw(size):
    key = os.path.join(lab.STATE, "id_ed25519")
    start = time.perf_counter()
    procs = [subprocess.Popen(["ssh", "-i", key, "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
                               "-o", "LogLevel=ERROR", "root@" + lab.host_ip(name), RAW_SCRIPT])
             for name in lab.host_names(size)]
    codes = [proc.wait() for proc in procs]
    elapsed = time.perf_counter() - start
    if any(codes):
        raise RuntimeError("raw commands failed: %r" % codes)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1,5,10,20")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--junk", type=int, default=200)
    parser.add_argument("--backscatter", type=int, default=20)
    parser.add_argument("--legitimate", type=int, default=40)
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    os.makedirs(args.out, exist_ok=True)
    rows = []
    try:
        for size in sizes:
            runbook, raw = [], []
            for number in range(args.rounds):
                prepare(size, args)
                runbook.append(run_runbook(size, args, os.path.join(args.out, "fleet-report-%d-%d" % (size, number))))
                prepare(size, args)
                raw.append(run_raw(size))
            rows.append({"hosts": size, "runbook_s": statistics.median(runbook), "raw_s": statistics.median(raw),
                         "runbook_runs": runbook, "raw_runs": raw})
            print("%2d hosts: runbook %.1f s, raw %.1f s" % (size, rows[-1]["runbook_s"], rows[-1]["raw_s"]), flush=True)
    finally:
        subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "down"], check=False, stdout=subprocess.DEVNULL)
    base = rows[0]
    print("\n| hosts | runbook (s) | vs %d host(s) | raw tools (s) | vs %d host(s) | runbook / raw |" % (
        base["hosts"], base["hosts"]))
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| %d | %.1f | %.2f | %.1f | %.2f | %.1f |" % (
            row["hosts"], row["runbook_s"], row["runbook_s"] / base["runbook_s"], row["raw_s"],
            row["raw_s"] / base["raw_s"], row["runbook_s"] / row["raw_s"]))
    with open(os.path.join(args.out, "fleet.json"), "w") as handle:
        json.dump({"args": vars(args), "rows": rows, "per_host": [args.junk, args.backscatter, args.legitimate]},
                  handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
