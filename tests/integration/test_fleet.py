# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook over the lab fleet, and its faults: real namespaced hosts, real sshd, real Postfix.

Every test brings up a fresh 5-host lab with a fresh incident (lab/lab.py, lab/incident.py),
runs the collection's playbooks through the controller under test (ssh on 2.21, paramiko on
2.19), and checks the outcome from outside Ansible against the incident's ground truth
(lab/truth.py) and the hosts' spool files.
"""

from __future__ import absolute_import, division, print_function

import os
import signal
import smtplib
import subprocess
import time

import pytest

from lab_fleet import HERE, LAB, fresh_fleet, in_host, lab, queued_count, spool_digest, truth, truth_of

HOSTS = ["h01", "h02", "h03", "h04", "h05"]
JUNK, BACKSCATTER, LEGIT = 100, 10, 30
JUNK_SENDER = "webmaster@example.org"


@pytest.fixture
def fleet(lab_session):
    """A fresh lab with a fresh incident on every host."""
    return fresh_fleet(len(HOSTS), JUNK, BACKSCATTER, LEGIT)


def test_cleanup_over_five_hosts(fleet, runbook):
    out = runbook("cleanup")
    report = out["report"]
    assert report["host_status"] == {"verified": 5}
    per_host = JUNK + BACKSCATTER
    assert report["total"]["phases"]["purged"] == report["total"]["phases"]["archived"] == 5 * per_host
    assert report["total"]["phases"]["delivered"] == 5 * LEGIT
    assert report["total"]["before"]["total"] == 5 * (per_host + LEGIT)
    assert report["total"]["after"]["total"] == 0
    for host, result in truth_of(fleet).items():
        assert result["ok"], (host, result["problems"])
        assert result["figures"]["archived"] == per_host and result["figures"]["delivered"] == LEGIT
    # the fix is in place: the compromised account is refused at SMTP, others are not
    client = smtplib.SMTP(lab.host_ip("h04"), 25, timeout=10)
    client.ehlo("test")
    client.mail(JUNK_SENDER)
    assert client.rcpt("someone@victim01.example")[0] == 554
    client.rset()
    client.mail("alice@example.org")
    assert client.rcpt("someone@client1.example")[0] == 250
    client.quit()
    # the Markdown report says the same
    with open(os.path.join(out["report_dir"], "report.md")) as handle:
        markdown = handle.read()
    total = 5 * (per_host + LEGIT)
    assert "| **total** |  | %d (deferred %d) | 0 |" % (total, total) in markdown


@pytest.mark.parametrize("stop_on_error", [False, True], ids=["others-finish", "stop-on-error"])
def test_postfix_stopped_on_one_host(fleet, runbook, stop_on_error):
    in_host("h02", "postfix", "stop", check=True)
    while in_host("h02", "postfix", "status", stderr=subprocess.DEVNULL).returncode == 0:
        time.sleep(0.1)   # postfix stop only signals the master; wait until it is gone
    before = dict((host, spool_digest(host)) for host in fleet)
    out = runbook("cleanup", expect_rc=2, mailops_stop_on_error=stop_on_error)
    assert out["recap"]["h02"]["failed"] == 1
    assert "is not running on h02" in out["output"]
    assert spool_digest("h02") == before["h02"], "the stopped host's queue changed"
    others = [host for host in fleet if host != "h02"]
    if stop_on_error:
        # any_errors_fatal: nobody went past the assessment, and ansible-playbook ends there (no report)
        assert all(spool_digest(host) == before[host] for host in others)
        assert out["report"] is None
    else:
        entry = out["report"]["hosts"]["h02"]
        assert entry["status"] == "assessed" and len(entry["problems"]) == 1
        assert entry["problems"][0].startswith("Postfix is not running: ")
        assert out["report"]["host_status"] == {"verified": 4, "assessed": 1}
        results = truth_of(others)
        assert all(result["ok"] and result["figures"]["queued"] == 0 for result in results.values()), results
    assert truth.check_host("h02")["figures"]["queued"] == JUNK + BACKSCATTER + LEGIT


def test_sshd_dies_mid_run_on_one_host(fleet, runbook):
    """h03 loses every sshd process right after its fix: it is reported, the others finish."""
    out = runbook("cleanup", expect_rc=4,
                  fix_tasks_file=os.path.join(HERE, "files", "kill-sshd-hook.yml"),
                  mailops_lab_dir=LAB, mailops_fault_host="h03")
    assert out["recap"]["h03"]["unreachable"] == 1
    assert out["report"]["host_status"] == {"verified": 4, "partial": 1}
    assert out["report"]["hosts"]["h03"]["phases"]["held"] == JUNK + BACKSCATTER + LEGIT
    # h03 keeps everything, on hold; the others are clean
    assert queued_count("h03", "hold") == JUNK + BACKSCATTER + LEGIT
    for host, result in truth_of(fleet).items():
        assert result["ok"], (host, result["problems"])
        assert result["figures"]["queued"] == (JUNK + BACKSCATTER + LEGIT if host == "h03" else 0)


def test_check_mode_over_the_fleet_changes_nothing(fleet, runbook):
    before = dict((host, spool_digest(host)) for host in fleet)
    out = runbook("cleanup", check_mode=True)
    assert dict((host, spool_digest(host)) for host in fleet) == before
    report = out["report"]
    assert report["host_status"] == {"check mode": 5}
    assert report["title"].endswith("(check mode: nothing was changed)")
    # what it would have done: hold everything (and, as nothing is held yet, purge nothing)
    assert report["total"]["phases"]["held"] == 5 * (JUNK + BACKSCATTER + LEGIT)
    for host in fleet:
        assert os.listdir(os.path.join(lab.host_dir(host), "mail", "delivered")) == []
        assert not os.path.exists(os.path.join(lab.host_dir(host), "etc-postfix", "mailops_sender_access"))


def test_interrupted_purge_then_rerun_converges(fleet, runbook):
    """The run dies while h01 is deleting (module and controller killed); a second run converges."""
    argv, env, _report = runbook.command("cleanup", purge_batch_size=10, purge_batch_pause=0.25)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    everything = JUNK + BACKSCATTER + LEGIT
    try:
        deadline = time.time() + 180
        while True:   # wait for deletion in progress on h01: fewer held than everything, more than legit
            held = queued_count("h01", "hold")
            if LEGIT < held < everything and queued_count("h01") == held:
                break
            assert proc.poll() is None, "the run ended before h01's purge was caught"
            assert time.time() < deadline, "h01's purge never started"
            time.sleep(0.05)
        in_host("h01", "pkill", "-KILL", "-f", "AnsiballZ_postfix_queue_action", check=True)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    for host in fleet:   # the modules the dead controller left running on the others finish or die
        while in_host(host, "pgrep", "-f", "AnsiballZ").returncode == 0:
            time.sleep(0.1)
    interrupted = truth.check_host("h01")
    assert interrupted["ok"], interrupted["problems"]
    assert 0 < interrupted["figures"]["queued"] < everything
    out = runbook("cleanup")
    assert out["report"]["host_status"] == {"verified": 5}
    for host, result in truth_of(fleet).items():
        assert result["ok"], (host, result["problems"])
        assert result["figures"]["archived"] == JUNK + BACKSCATTER and result["figures"]["delivered"] == LEGIT
