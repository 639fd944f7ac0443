# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark postfix_queue_info against the raw ``postqueue -j > /dev/null`` in the same run.

Fills the test instance's queue with N messages (smtp-source, 8 sessions; 10%
to the selected domain), lets them all defer with a real delay reason, freezes
the queue (qmgr and pickup disabled) so every round reads the same queue, then
alternates, for R rounds:

  raw       postqueue -j > /dev/null
  module    the module run directly by Python with its arguments file: the
            module's own cost (list, parse, select, summarise, JSON out)
  ansible   ansible localhost -m mailops.postfix.postfix_queue_info ...
  fixed     ansible localhost -m ansible.builtin.ping (Ansible's fixed per-task cost)

and prints medians, the ratios module/raw and (ansible - fixed)/raw, and peak
memory (max RSS) of the module process and of postqueue.

Run as root on a machine where the integration tests may own Postfix:
    make bench            (or: python bench/bench_info.py --messages 100000 --rounds 5)
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT, HERE, fill, frozen, interleaved, medians, module_under_test  # noqa: E402  (common puts tests/integration on the path)

import live_postfix  # noqa: E402  (the tests' own Postfix set-up)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--domain", default="junk.example")
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--keep", action="store_true", help="leave the queue filled (for a later run)")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "bench_info.json"))
    args = parser.parse_args()

    python, module, env = module_under_test(args.venv, "postfix_queue_info")
    ansible = os.path.join(args.venv, "bin", "ansible")
    module_args = {"recipient_domain": [args.domain], "limit": 0, "summary_top": 10}

    instance = live_postfix.configure_default()
    instance.start()
    fill(instance, args.messages, args.domain)
    with frozen(instance, args.keep):
        handle, args_file = tempfile.mkstemp(suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump({"ANSIBLE_MODULE_ARGS": module_args}, out)
        interpreter = "ansible_python_interpreter=%s" % python
        commands = {
            "raw": ["postqueue", "-j"],
            "module": [python, module, args_file],
            "ansible": [ansible, "localhost", "-e", interpreter, "-m", "mailops.postfix.postfix_queue_info",
                        "-a", json.dumps(module_args)],
            "fixed": [ansible, "localhost", "-e", interpreter, "-m", "ansible.builtin.ping"],
        }
        # the module's answer, once, to show it selected what it should
        out = subprocess.run(commands["module"], stdout=subprocess.PIPE, env=env, check=True).stdout
        summary = json.loads(out)["summary"]
        assert summary["total"] == args.messages // 10, summary["total"]
        samples, peaks = interleaved(commands, args.rounds, env)
        os.unlink(args_file)

    med = medians(samples)
    result = {
        "messages": args.messages,
        "selected": summary["total"],
        "rounds": args.rounds,
        "median_seconds": med,
        "peak_rss_kib": peaks,
        "ratio_module_to_raw": med["module"] / med["raw"],
        "ratio_ansible_minus_fixed_to_raw": (med["ansible"] - med["fixed"]) / med["raw"],
        "postfix_version": instance.get("mail_version"),
        "python": subprocess.run([python, "-V"], stdout=subprocess.PIPE, universal_newlines=True,
                                 check=True).stdout.strip(),
    }
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as out:
        json.dump(result, out, indent=2)
    print()
    print("| %d deferred messages, %d rounds, medians | seconds | peak RSS |" % (args.messages, args.rounds))
    print("|---|---|---|")
    print("| `postqueue -j > /dev/null` | %.2f | %.0f MiB |" % (med["raw"], peaks["raw"] / 1024.0))
    print("| module alone (list, parse, select %s, summarise) | %.2f | %.0f MiB |"
          % (args.domain, med["module"], peaks["module"] / 1024.0))
    print("| `ansible -m postfix_queue_info` | %.2f | |" % med["ansible"])
    print("| `ansible -m ping` (fixed per-task cost) | %.2f | |" % med["fixed"])
    print()
    print("ratio module / raw:                      %.2f" % result["ratio_module_to_raw"])
    print("ratio (ansible - fixed cost) / raw:      %.2f" % result["ratio_ansible_minus_fixed_to_raw"])


if __name__ == "__main__":
    main()
