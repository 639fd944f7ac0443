# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the lab benchmarks share: one run of the cleanup runbook, timed, with the controller's CPU."""

from __future__ import absolute_import, division, print_function

import json
import os
import resource
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def machine_busy_s():
    """CPU seconds the whole machine has been busy (every process: the controller and the lab hosts)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    return (user + nice + system + irq + softirq + steal) / float(os.sysconf("SC_CLK_TCK"))


def run_cleanup(venv, inventory, extra_vars, collections=None, forks=None, env_extra=None, extra_files=(),
                playbook="mailops.postfix.cleanup"):
    """ansible-playbook PLAYBOOK (the cleanup runbook unless told); returns its output and what it cost.

    The controller's CPU is getrusage(RUSAGE_CHILDREN) around the run: ansible-playbook and every
    process it started (forked workers, ssh clients) - not the lab hosts', which sshd starts.
    """
    env = dict(os.environ, LANG="C.UTF-8", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False",
               ANSIBLE_COLLECTIONS_PATH=collections or os.path.join(ROOT, ".build"),
               PATH=os.path.join(venv, "bin") + os.pathsep + os.environ["PATH"])
    env.update(env_extra or {})
    argv = [os.path.join(venv, "bin", "ansible-playbook"), "-i", inventory]
    if forks:
        argv += ["-f", str(forks)]
    for path in extra_files:
        argv += ["-e", "@" + path]
    argv += ["-e", json.dumps(extra_vars), playbook]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_s()
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = machine_busy_s() - busy
    return {"machine_cpu_s": machine, "rc": proc.returncode, "output": proc.stdout, "wall_s": elapsed,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "user_s": after.ru_utime - before.ru_utime, "sys_s": after.ru_stime - before.ru_stime,
            # the largest single process's peak (the controller's main process)
            "max_rss_mib": after.ru_maxrss / 1024.0}
