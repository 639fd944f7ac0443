# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is the master running? Decided the way Postfix decides it (``master -t``): the lock on master.pid.

Real processes and real locks, no mocks: a child that holds the lock the way Postfix's master does
(flock, exclusive), the same child after it exited but before anyone reaped it (a zombie, whose PID
still answers kill(pid, 0)), and PIDs that name a live process that is not a master.
"""

from __future__ import absolute_import, division, print_function

import fcntl
import os
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import master_running, _locked_per_proc_locks

# A stand-in for Postfix's master: locks master.pid exclusively with flock (Postfix's INTERNAL_LOCK on
# Linux and the BSDs), writes its PID the way master does (%*lu padded), says so, exits when told.
HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    handle = open(sys.argv[1], "w")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.write("%33d\\n" % os.getpid())
    handle.flush()
    print("locked", flush=True)
    sys.stdin.readline()
""")


@pytest.fixture
def queue_dir(tmp_path):
    (tmp_path / "pid").mkdir()
    return str(tmp_path)


def pid_file(queue_dir):
    return os.path.join(queue_dir, "pid", "master.pid")


def start_holder(queue_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, pid_file(queue_dir)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def state_of(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def test_no_pid_file_is_not_running(queue_dir):
    running, why = master_running(queue_dir)
    assert running is False
    assert "no master.pid" in why


def test_a_master_holding_the_lock_is_running(queue_dir):
    proc = start_holder(queue_dir)
    try:
        running, why = master_running(queue_dir)
        assert running is True, why
        assert _locked_per_proc_locks(pid_file(queue_dir)) is True
    finally:
        proc.stdin.close()
        proc.wait()


def test_a_zombie_master_is_not_running(queue_dir):
    """The master has exited but nobody reaped it: kill(pid, 0) still succeeds, the lock is gone."""
    proc = start_holder(queue_dir)
    proc.stdin.close()   # it exits now; we do not wait for it, so it stays a zombie
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)   # exited, still not reaped
        assert state_of(proc.pid) == "Z"
        os.kill(proc.pid, 0)          # the old test: this says "alive"
        running, why = master_running(queue_dir)
        assert running is False, why
        assert "not locked" in why and "zombie" in why
        assert _locked_per_proc_locks(pid_file(queue_dir)) is False
    finally:
        proc.wait()


def test_a_live_process_that_is_not_the_master_is_not_running(queue_dir):
    """A stale master.pid naming a PID reused by another process (here: this test itself)."""
    with open(pid_file(queue_dir), "w") as handle:
        handle.write("%33d\n" % os.getpid())
    running, why = master_running(queue_dir)
    assert running is False
    assert "not locked" in why and "not a Postfix master" in why


def test_a_dead_pid_is_not_running(queue_dir):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with open(pid_file(queue_dir), "w") as handle:
        handle.write("%33d\n" % proc.pid)
    running, why = master_running(queue_dir)
    assert running is False
    assert "not locked" in why


def test_the_test_leaves_no_lock_behind(queue_dir):
    """Deciding takes the lock for an instant, as master -t does, and releases it."""
    with open(pid_file(queue_dir), "w") as handle:
        handle.write("%33d\n" % os.getpid())
    master_running(queue_dir)
    with open(pid_file(queue_dir)) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)   # raises if a lock were left
