# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the benchmarks share: filling the test instance's queue, timing a command."""

from __future__ import absolute_import, division, print_function

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


DOMAINS = ["example.net", "example.com", "mail.example.org", "customers.example", "partners.example",
           "lists.example", "news.example", "corp.example", "shop.example"]


def module_under_test(venv, module_name):
    """(python, the module's file in the built collection, env) to run a module directly with an arguments file,
    as bench_info and bench_content time it; exits when the collection is not built."""
    build = os.path.join(ROOT, ".build")
    module = os.path.join(build, "ansible_collections", "mailops", "postfix", "plugins", "modules", module_name + ".py")
    if not os.path.exists(module):
        sys.exit("run scripts/collection-tree.sh (make collection) first")
    env = dict(os.environ, PYTHONPATH=build, ANSIBLE_COLLECTIONS_PATH=build, LANG="C.UTF-8",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    return os.path.join(venv, "bin", "python"), module, env


def timed(argv, env=None):
    """Wall seconds and peak RSS (KiB) of one command.

    GNU time measures the RSS: it forks from its own small image, so the
    child's pre-exec copy of this (large) Python process is not counted.
    """
    with tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-o", rss.name, "-f", "%M"] + argv, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(argv), proc.stderr.decode(errors="replace")[-2000:]))
        return elapsed, int(rss.read().split()[-1])


def fill(instance, messages, domain):
    counts = instance.by_queue()
    if counts == {"deferred": messages}:
        print("queue already holds %d deferred messages: reusing it" % messages)
        return
    print("filling the queue with %d messages (%d to %s)..." % (messages, messages // 10, domain))
    instance.reset()   # stopped, every queue file removed, started thawed
    start = time.time()
    junk = messages // 10
    batch = 5000
    sent = 0
    index = 0
    while sent < messages - junk:
        count = min(batch, messages - junk - sent)
        dest = DOMAINS[index % len(DOMAINS)]
        instance.smtp_source(count, "sender%d@origin%d.example" % (index, index % 7), "user@%s" % dest,
                             recipients_each=1 + index % 3, sessions=8)
        sent += count
        index += 1
    instance.smtp_source(junk, "spammer@compromised.example", "victim@%s" % domain, sessions=8)
    print("  injected in %.0f s; waiting until every message is deferred..." % (time.time() - start))
    instance.settled({"deferred": messages}, timeout=1800)
    print("  settled after %.0f s" % (time.time() - start))


@contextlib.contextmanager
def frozen(instance, keep):
    """The filled queue frozen (qmgr and pickup off) while timing; emptied (unless keep) and thawed after."""
    instance.freeze()
    try:
        yield instance
    finally:
        if keep:
            instance.thaw()
        else:
            instance.reset()        # stopped, every queue file removed, started again thawed


def interleaved(commands, rounds, env=None):
    """Run every command of COMMANDS ({name: argv}) once per round, in order, for ROUNDS rounds (so that a slow
    moment of the machine hits every side alike); returns (wall seconds per name, peak RSS KiB per name)."""
    samples, peaks = dict((name, []) for name in commands), dict((name, 0) for name in commands)
    for round_number in range(rounds):
        for name, argv in commands.items():
            elapsed, peak = timed(argv, env=env)
            samples[name].append(elapsed)
            peaks[name] = max(peaks[name], peak)
        print("round %d: %s" % (round_number + 1, ", ".join("%s %.2fs" % (n, samples[n][-1]) for n in commands)))
    return samples, peaks


def medians(samples):
    return dict((name, statistics.median(values)) for name, values in samples.items())
