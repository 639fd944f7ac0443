# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What one task costs the controller per host, by kind - the figures behind the runbook's shape (#21).

Runs small playbooks over a fresh lab of --hosts stock Debian Postfix hosts (forks = hosts, ssh, the lab's
pipelining), each of --tasks repetitions of one pattern, and reports the controller's CPU (user + sys of
ansible-playbook and every process it started, getrusage(RUSAGE_CHILDREN)) per run, median of --rounds
interleaved rounds, and per task and host against the plain module run:

  module         postfix_queue_info list_queue=false (read-only)
  module+fact    the same, registered, then a set_fact of a part of it (the runbook's roles before runbook_phase)
  phase          runbook_phase running the same module and keeping that part as its fact (ansible-core 2.21 sets it)
  phase+when     the phase, then a set_fact skipped by `when` on the registered result
  phase+loop     the phase, then a set_fact over an empty loop with a templated key (a generic keeper)
  phase+skipped  the phase, then a debug task skipped by `when: false`
  empty          no task (ansible-playbook's own start and the play)

    python bench/bench_tasks.py [--hosts 5] [--tasks 10] [--rounds 2]
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAB = os.path.join(ROOT, "lab")
sys.path.insert(0, LAB)

import lab  # noqa: E402

MODULE = "    - mailops.postfix.postfix_queue_info: {list_queue: false}\n      register: r%(i)d\n"
PHASE = ("    - mailops.postfix.runbook_phase:\n        phase: bench\n        steps: [{module: mailops.postfix.postfix_queue_info,"
         " args: {list_queue: false}, facts: {f%(i)d: instance}}]\n      register: r%(i)d\n")
PATTERNS = {
    "empty": "",
    "module": MODULE,
    "module+fact": MODULE + "    - ansible.builtin.set_fact: {f%(i)d: \"{{ r%(i)d.instance }}\"}\n",
    "phase": PHASE,
    "phase+when": PHASE + ("    - ansible.builtin.set_fact: {f%(i)d: \"{{ r%(i)d.kept_facts.f%(i)d }}\"}\n"
                           "      when: r%(i)d.kept_facts is defined\n"),
    "phase+loop": PHASE + ("    - ansible.builtin.set_fact: {\"{{ item.key }}\": \"{{ item.value }}\"}\n"
                           "      loop: \"{{ r%(i)d.kept_facts | default({}) | dict2items }}\"\n"),
    "phase+skipped": PHASE + "    - ansible.builtin.debug: {msg: skipped}\n      when: false\n",
}
# the task kinds, from the differences between patterns: (name, pattern, minus pattern, tasks of that kind per repetition)
KINDS = [("module run (postfix_queue_info, no listing)", "module", "empty"),
         ("set_fact of a registered result", "module+fact", "module"),
         ("runbook_phase around the same module run", "phase", "module"),
         ("set_fact skipped by when", "phase+when", "phase"),
         ("set_fact over an empty loop", "phase+loop", "phase"),
         ("task skipped by when: false", "phase+skipped", "phase")]


def playbook(directory, name, tasks):
    path = os.path.join(directory, name.replace("+", "_") + ".yml")
    with open(path, "w") as handle:
        handle.write("- hosts: mailhosts\n  gather_facts: false\n  tasks:\n")
        handle.write("".join(PATTERNS[name] % {"i": i} for i in range(tasks)) or "    - ansible.builtin.meta: noop\n")
    return path


def controller_cpu(args, path):
    env = dict(os.environ, LANG="C.UTF-8", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False",
               ANSIBLE_COLLECTIONS_PATH=args.collections)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([os.path.join(args.venv, "bin", "ansible-playbook"), "-f", str(args.hosts), "-i",
                           os.path.join(lab.STATE, "inventory.yml"), path],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (path, proc.stdout[-3000:]))
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--collections", default=os.path.join(ROOT, ".build"))
    args = parser.parse_args()
    subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "up", "--hosts", str(args.hosts), "--layout", "plain"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tasks-") as directory:
            paths = {name: playbook(directory, name, args.tasks) for name in PATTERNS}
            runs = {name: [] for name in PATTERNS}
            for round_number in range(args.rounds):
                for name in PATTERNS:
                    runs[name].append(controller_cpu(args, paths[name]))
                print("round %d: %s" % (round_number + 1, ", ".join("%s %.2f s" % (name, runs[name][-1]) for name in PATTERNS)),
                      flush=True)
    finally:
        subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "down"], check=False, stdout=subprocess.DEVNULL)
    cpu = {name: statistics.median(values) for name, values in runs.items()}
    print("\n%d hosts, %d repetitions, medians of %d rounds: controller CPU per run (s): %s" % (
        args.hosts, args.tasks, args.rounds, ", ".join("%s %.2f" % (name, cpu[name]) for name in PATTERNS)))
    print("\n| kind of task | controller CPU per task and host (ms) |\n|---|---|")
    for label, pattern, base in KINDS:
        print("| %s | %.1f |" % (label, 1000.0 * (cpu[pattern] - cpu[base]) / (args.tasks * args.hosts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
