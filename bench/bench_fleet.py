# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark the cleanup runbook over 1, 5, 10 and 20 lab hosts (forks = hosts).

For each fleet size, from a fresh lab (--layout plain: every host a stock Debian Postfix; mixed: the
test fleet's variants) and a fresh incident each time (per host: --junk junk, --backscatter bounces,
--legitimate mail, all deferred):

  runbook   ansible-playbook mailops.postfix.cleanup (ssh, ansible-core 2.21): assess, hold, fix,
            purge with archive, requeue, verify, fleet report
  raw       the same queue work by hand, every host at once (one ssh per host, in parallel):
            postsuper -h ALL; postqueue -j | jq (junk senders) | postsuper -d -; postconf relayhost +
            postfix reload; postsuper -r ALL hold - no archive, no accounting, no report

Reported: wall seconds, the ratio to one host, runbook / raw at each size, and the controller's
CPU (user + sys of ansible-playbook and every process it started - workers, ssh clients - from
getrusage(RUSAGE_CHILDREN)) in all and per host, the whole machine's busy CPU (/proc/stat: the
controller and the lab hosts, which run on the same 2 cores), the controller's largest process's peak
RSS, the memory the lab took, and the tasks per host (from the play recap).

    python bench/bench_fleet.py [--sizes 1,5,10,20] [--rounds 1] [--layout plain|mixed]
                                [--pipelining on|off] [--strategy linear|free] [--forks N]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAB = os.path.join(ROOT, "lab")
sys.path.insert(0, LAB)

import lab  # noqa: E402
from runbook_run import run_cleanup  # noqa: E402

RAW_SCRIPT = (
    "set -e; postsuper -h ALL 2>/dev/null; "
    "postqueue -j | jq -r 'select(.sender == \"webmaster@example.org\" or .sender == \"MAILER-DAEMON\") | .queue_id'"
    " | postsuper -d - 2>/dev/null; "
    "postconf -e relayhost=[127.0.0.1]:10026; postfix reload 2>/dev/null; postsuper -r ALL hold 2>/dev/null")


RECAP_RE = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)",
                      re.MULTILINE)


def mem_available_mib():
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def prepare(size, args):
    """A fresh lab of SIZE hosts with a fresh incident; returns the machine memory the lab took (MiB)."""
    subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "down"], check=True, stdout=subprocess.DEVNULL)
    free_before = mem_available_mib()
    subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "up", "--hosts", str(size), "--layout", args.layout],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(LAB, "incident.py"), "--junk", str(args.junk),
                    "--backscatter", str(args.backscatter), "--legitimate", str(args.legitimate)],
                   check=True, stdout=subprocess.DEVNULL)
    return free_before - mem_available_mib()


def run_runbook(size, args, report_dir):
    env = {"ANSIBLE_STRATEGY": args.strategy} if args.strategy else {}
    extra = {"fix_tasks_file": os.path.join(LAB, "fix-relay.yml"), "mailops_report_dir": report_dir,
             "mailops_hosts": "mailhosts", "report_print": False}
    if args.pipelining:
        extra["ansible_pipelining"] = args.pipelining == "on"
    run = run_cleanup(args.venv, os.path.join(lab.STATE, "inventory.yml"), extra, collections=args.collections,
                      forks=args.forks or size, env_extra=env, extra_files=[os.path.join(LAB, "incident-vars.yml")])
    if run["rc"] != 0:
        raise RuntimeError("the runbook failed on %d hosts:\n%s" % (size, run["output"][-5000:]))
    with open(os.path.join(report_dir, "report.json")) as handle:
        report = json.load(handle)
    targets = len(lab.targets())
    if report["host_status"] != {"verified": targets}:
        raise RuntimeError("not every host verified: %r" % report["host_status"])
    recap = [tuple(int(n) for n in match.groups()[1:]) for match in RECAP_RE.finditer(run["output"])
             if match.group(1) != "localhost"]
    measured = dict((key, run[key]) for key in ("wall_s", "cpu_s", "user_s", "sys_s", "max_rss_mib", "machine_cpu_s"))
    return dict(measured, targets=targets,
                tasks_per_host={"ok": statistics.mean(r[0] for r in recap), "skipped": statistics.mean(r[4] for r in recap)})


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
    parser.add_argument("--layout", choices=["plain", "mixed"], default="plain")
    parser.add_argument("--pipelining", choices=["on", "off"],
                        help="ssh pipelining (ansible_pipelining as an extra var); default: the lab inventory's (on)")
    parser.add_argument("--strategy", choices=["linear", "free"], help="ANSIBLE_STRATEGY (default: linear)")
    parser.add_argument("--forks", type=int, help="default: as many as hosts")
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--collections", default=os.path.join(ROOT, ".build"),
                        help="the collection to run (ANSIBLE_COLLECTIONS_PATH), e.g. an earlier build to compare")
    parser.add_argument("--no-raw", action="store_true", help="time the runbook only")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    os.makedirs(args.out, exist_ok=True)
    rows = []
    try:
        for size in sizes:
            runbook, raw = [], []
            for number in range(args.rounds):
                lab_mib = prepare(size, args)
                runbook.append(dict(run_runbook(size, args, os.path.join(args.out, "fleet-report-%d-%d" % (size, number))),
                                    lab_memory_mib=lab_mib))
                if not args.no_raw:
                    prepare(size, args)
                    raw.append(run_raw(size))
            median = dict((key, statistics.median(run[key] for run in runbook))
                          for key in ("wall_s", "cpu_s", "user_s", "sys_s", "max_rss_mib", "lab_memory_mib",
                                      "machine_cpu_s"))
            rows.append(dict(median, hosts=size, targets=runbook[0]["targets"],
                             cpu_per_target_s=median["cpu_s"] / runbook[0]["targets"],
                             tasks_per_host=runbook[0]["tasks_per_host"],
                             raw_s=statistics.median(raw) if raw else None, runbook_runs=runbook, raw_runs=raw))
            print("%2d hosts: runbook %.1f s (controller CPU %.1f s, %.2f s per target; tasks per host ok %.0f "
                  "skipped %.0f), raw %s" % (size, rows[-1]["wall_s"], rows[-1]["cpu_s"], rows[-1]["cpu_per_target_s"],
                                             rows[-1]["tasks_per_host"]["ok"], rows[-1]["tasks_per_host"]["skipped"],
                                             "%.1f s" % rows[-1]["raw_s"] if raw else "not run"), flush=True)
    finally:
        subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "down"], check=False, stdout=subprocess.DEVNULL)
    base = rows[0]
    print("\n| hosts | runbook (s) | vs %d host(s) | controller CPU (s) | per target (s) | machine CPU (s) "
          "| peak RSS (MiB) | lab memory (MiB) | raw tools (s) | runbook / raw |" % base["hosts"])
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| %d | %.1f | %.2f | %.1f | %.2f | %.1f | %.0f | %.0f | %s | %s |" % (
            row["hosts"], row["wall_s"], row["wall_s"] / base["wall_s"], row["cpu_s"], row["cpu_per_target_s"],
            row["machine_cpu_s"], row["max_rss_mib"], row["lab_memory_mib"], "%.1f" % row["raw_s"] if row["raw_s"] else "-",
            "%.1f" % (row["wall_s"] / row["raw_s"]) if row["raw_s"] else "-"))
    with open(os.path.join(args.out, "fleet-%s.json" % "-".join(str(size) for size in sizes)), "w") as handle:
        json.dump({"args": vars(args), "rows": rows, "per_host": [args.junk, args.backscatter, args.legitimate]},
                  handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
