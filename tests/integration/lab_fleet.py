# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the lab-fleet tests share: running commands in lab hosts, digests, the ground truth."""

from __future__ import absolute_import, division, print_function

import contextlib
import hashlib
import collections
import itertools
import json
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LAB = os.path.join(ROOT, "lab")
# The longest a playbook run of the tests may take before it counts as hung (the slowest runs take 2-3 minutes).
PLAYBOOK_TIMEOUT = 900
sys.path.insert(0, LAB)

import incident  # noqa: E402  # pylint: disable=unused-import  # the lab's incident, for the tests that import it from here
import lab  # noqa: E402
import truth  # noqa: E402


def lab_cmd(*args):
    return subprocess.run([sys.executable, os.path.join(LAB, "lab.py")] + list(args), check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)


def fresh_fleet(count, junk, backscatter, legitimate, quarantine=5, layout="mixed", scenario="envelope"):
    """A fresh lab of COUNT hosts, each Postfix instance with a fresh incident of SCENARIO (lab/incident.py:
    envelope, login or script); returns the targets' names."""
    lab_cmd("up", "--hosts", str(count), "--layout", layout)
    subprocess.run([sys.executable, os.path.join(LAB, "incident.py"), "--junk", str(junk),
                    "--backscatter", str(backscatter), "--legitimate", str(legitimate),
                    "--quarantine", str(quarantine), "--scenario", scenario], check=True, stdout=subprocess.DEVNULL,
                   timeout=600)
    return [entry["target"] for entry in lab.targets()]


@contextlib.contextmanager
def live_traffic(*args):
    """lab/traffic.py runs (mail keeps arriving on every target) until the block ends; yields its output lines."""
    proc = subprocess.Popen([sys.executable, os.path.join(LAB, "traffic.py")] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True)
    lines = [proc.stdout.readline()]          # "traffic: sending to ..." once every sender runs
    try:
        yield lines
    finally:
        proc.send_signal(signal.SIGTERM)      # our own child, by its PID
        try:
            out, _err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:     # never leave it sending into the next test's lab
            proc.kill()
            out, _err = proc.communicate()
            lines.extend(out.splitlines())
            raise AssertionError("traffic.py did not stop within 120 s of SIGTERM: %s" % lines[-20:])
        lines.extend(out.splitlines())
    assert proc.returncode == 0, lines


def in_host(target, *argv, **kwargs):
    """Run ARGV inside the host of a target (a Postfix command: give lab.tool's path for relocated hosts)."""
    check = kwargs.pop("check", False)
    kwargs.setdefault("timeout", 300)
    return subprocess.run(lab.enter(target) + list(argv), stdout=subprocess.PIPE, universal_newlines=True,
                          check=check, **kwargs)


def postfix(target, command, *argv, **kwargs):
    """A Postfix command of TARGET (its own tool path and -c DIR), inside its host."""
    check = kwargs.pop("check", True)
    kwargs.setdefault("timeout", 300)
    return subprocess.run(lab.tool(target, command) + list(argv), stdout=subprocess.PIPE, universal_newlines=True,
                          check=check, **kwargs)


def recap(output):
    """PLAY RECAP counters per host."""
    counters = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        parts = line.split(":", 1)
        if len(parts) == 2 and "ok=" in parts[1]:
            counters[parts[0].strip()] = dict((k, int(v)) for k, v in (f.split("=") for f in parts[1].split()))
    return counters


def _digest_tree(digest, base, subdirs=("",)):
    for sub in subdirs:
        for folder, dirs, files in sorted(os.walk(os.path.join(base, sub))):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                digest.update(path.encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(handle.read())


def spool_digest(target):
    """sha256 over every queue file of TARGET (path and content) and its main.cf."""
    digest = hashlib.sha256()
    _digest_tree(digest, lab.target_path(target, "spool"),
                 ("maildrop", "incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce"))
    with open(os.path.join(lab.target_path(target, "etc"), "main.cf"), "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()


def config_digest(target):
    """sha256 over every file under TARGET's Postfix configuration directory."""
    digest = hashlib.sha256()
    _digest_tree(digest, lab.target_path(target, "etc"))
    return digest.hexdigest()


def queue_state(target):
    """TARGET's queue as (queue ID, queue name) pairs."""
    return sorted((m["queue_id"], m["queue_name"]) for m in lab.listing(target))


def untouched(targets):
    """What must not change when a run is refused: each target's queue (IDs and queues), config files, spool files."""
    return dict((target, (queue_state(target), config_digest(target), spool_digest(target))) for target in targets)


def truth_of(targets, final=True):
    return dict((target, truth.check_host(target, final)) for target in targets)


def queued_count(target, queue=None):
    """How many messages TARGET's queue holds (in QUEUE, or in all)."""
    return queue_snapshot(target)[queue or "all"]


def queue_snapshot(target):
    """One listing of a host's queue: {queue name: messages}, with "all". Conditions over several queues read
    one snapshot - counted from separate listings, a queue can change between the counts."""
    counts = collections.Counter(message["queue_name"] for message in lab.listing(target))
    counts["all"] = sum(counts.values())
    return counts


def make_runbook(controller, tmp_path):
    """Start or run a collection playbook against the lab's inventory."""
    numbers = itertools.count()

    def command(name, check_mode=False, **extra):
        limit = extra.pop("_limit", None)
        env_extra = extra.pop("_env", {})
        # the incident's variables: lab/incident-vars.yml (the envelope scenario) unless a test names another file
        vars_file = extra.pop("_vars_file", os.path.join(LAB, "incident-vars.yml"))
        report_dir = str(tmp_path / ("report-%d" % next(numbers)))
        variables = dict({"fix_tasks_file": os.path.join(LAB, "fix-relay.yml"), "mailops_report_dir": report_dir,
                          "mailops_hosts": "mailhosts", "report_print": False}, **extra)
        argv = [os.path.join(controller["bin"], "ansible-playbook"), "-c", controller["connection"],
                "-i", os.path.join(lab.STATE, "inventory.yml"), "-e", "@" + vars_file,
                "-e", json.dumps(variables), "mailops.postfix." + name] + (["--check"] if check_mode else []) \
            + (["--limit", limit] if limit else [])
        env = dict(os.environ, LANG="C.UTF-8", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False",
                   ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_PARAMIKO_RECORD_HOST_KEYS="False",
                   ANSIBLE_HOST_KEY_CHECKING="False", PATH=controller["bin"] + os.pathsep + os.environ["PATH"],
                   **env_extra)
        return argv, env, report_dir

    def run(name, expect_rc=0, check_mode=False, **extra):
        argv, env, report_dir = command(name, check_mode, **extra)
        try:
            proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  universal_newlines=True, check=False, timeout=PLAYBOOK_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError("%s did not end within %d s (killed):\n%s"
                                 % (name, PLAYBOOK_TIMEOUT, (exc.output or "")[-15000:]))
        if proc.returncode != expect_rc:
            raise AssertionError("%s exited %d, not %d:\n%s" % (name, proc.returncode, expect_rc, proc.stdout[-15000:]))
        report = None
        if os.path.exists(os.path.join(report_dir, "report.json")):
            with open(os.path.join(report_dir, "report.json")) as handle:
                report = json.load(handle)
        return {"output": proc.stdout, "report": report, "recap": recap(proc.stdout), "report_dir": report_dir}

    run.command = command
    return run
