# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the lab-fleet tests share: running commands in lab hosts, digests, the ground truth."""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LAB = os.path.join(ROOT, "lab")
sys.path.insert(0, LAB)

import lab  # noqa: E402
import truth  # noqa: E402


def lab_cmd(*args):
    return subprocess.run([sys.executable, os.path.join(LAB, "lab.py")] + list(args), check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)


def fresh_fleet(count, junk, backscatter, legitimate):
    """A fresh lab of COUNT hosts, each with a fresh incident; returns the host names."""
    lab_cmd("up", "--hosts", str(count))
    subprocess.run([sys.executable, os.path.join(LAB, "incident.py"), "--junk", str(junk),
                    "--backscatter", str(backscatter), "--legitimate", str(legitimate)], check=True)
    return lab.host_names(count)


def in_host(host, *argv, **kwargs):
    check = kwargs.pop("check", False)
    return subprocess.run(lab.enter(host) + list(argv), stdout=subprocess.PIPE, universal_newlines=True,
                          check=check, **kwargs)


def recap(output):
    """PLAY RECAP counters per host."""
    counters = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        parts = line.split(":", 1)
        if len(parts) == 2 and "ok=" in parts[1]:
            counters[parts[0].strip()] = dict((k, int(v)) for k, v in (f.split("=") for f in parts[1].split()))
    return counters


def spool_digest(host):
    """sha256 over every queue file of HOST (path and content) and its main.cf."""
    digest = hashlib.sha256()
    base = os.path.join(lab.host_dir(host), "spool")
    for queue in ("maildrop", "incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce"):
        for folder, dirs, files in sorted(os.walk(os.path.join(base, queue))):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                digest.update(path.encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    with open(os.path.join(lab.host_dir(host), "etc-postfix", "main.cf"), "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()


def truth_of(hosts):
    return dict((host, truth.check_host(host)) for host in hosts)


def queued_count(host, queue=None):
    return sum(1 for message in lab.listing(host) if queue is None or message["queue_name"] == queue)


def make_runbook(controller, tmp_path):
    """Start or run a collection playbook against the lab's inventory."""
    def command(name, check_mode=False, **extra):
        report_dir = str(tmp_path / ("report-%d" % len(os.listdir(str(tmp_path)))))
        variables = dict({"fix_tasks_file": os.path.join(LAB, "fix-relay.yml"), "mailops_report_dir": report_dir,
                          "mailops_hosts": "mailhosts", "report_print": False}, **extra)
        argv = [os.path.join(controller["bin"], "ansible-playbook"), "-c", controller["connection"],
                "-i", os.path.join(lab.STATE, "inventory.yml"), "-e", "@" + os.path.join(LAB, "incident-vars.yml"),
                "-e", json.dumps(variables), "mailops.postfix." + name] + (["--check"] if check_mode else [])
        env = dict(os.environ, LANG="C.UTF-8", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False",
                   ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_PARAMIKO_RECORD_HOST_KEYS="False",
                   ANSIBLE_HOST_KEY_CHECKING="False", PATH=controller["bin"] + os.pathsep + os.environ["PATH"])
        return argv, env, report_dir

    def run(name, expect_rc=0, check_mode=False, **extra):
        argv, env, report_dir = command(name, check_mode, **extra)
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, check=False)
        if proc.returncode != expect_rc:
            raise AssertionError("%s exited %d, not %d:\n%s" % (name, proc.returncode, expect_rc, proc.stdout[-15000:]))
        report = None
        if os.path.exists(os.path.join(report_dir, "report.json")):
            with open(os.path.join(report_dir, "report.json")) as handle:
                report = json.load(handle)
        return {"output": proc.stdout, "report": report, "recap": recap(proc.stdout), "report_dir": report_dir}

    run.command = command
    return run
