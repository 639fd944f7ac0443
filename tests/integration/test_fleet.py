# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook over the lab fleet, on a live incident, and its faults: real namespaced hosts, real sshd, Postfix.

Every test brings up a fresh 5-host lab - h02 with its Postfix relocated (commands only in
/opt/postfix/sbin), h03 with long queue IDs, h05 with a second instance (the targets h05 and h05b) -
with a fresh incident on every instance, the host's own earlier hold (quarantined mail) included;
lab/traffic.py keeps mail arriving (junk and legitimate, by SMTP and by local sendmail) where a test
says so. The collection's playbooks run through the controller under test (ssh on 2.21, paramiko on
2.19); the outcome is checked from outside Ansible against the ground truth (lab/truth.py), the
hosts' spool and configuration files.
"""

from __future__ import absolute_import, division, print_function

import os
import signal
import subprocess

import pytest

from live_postfix import wait_for

from lab_fleet import (HERE, LAB, fresh_fleet, in_host, lab, live_traffic, postfix, queue_snapshot, queued_count,
                       spool_digest, truth, truth_of, untouched)

HOSTS = 5
JUNK, BACKSCATTER, LEGIT, QUARANTINE = 40, 4, 16, 5
GENERATED = JUNK + BACKSCATTER + LEGIT + QUARANTINE
JUNK_SENDER = "webmaster@example.org"
WINDOW_PARAMETERS = ("header_checks", "internal_mail_filter_classes")

# A module running on a lab host: its AnsiballZ file, or - with ssh pipelining (the lab's inventory),
# where the module comes on stdin - the interpreter run with no argument (the host's own Python
# processes, its PID 1 among them, all have a script argument).
MODULE_PROCESS = r"AnsiballZ_|^/usr/bin/python3$"


@pytest.fixture
def fleet(lab_session):
    """A fresh lab with a fresh incident on every Postfix instance; the targets' names."""
    return fresh_fleet(HOSTS, JUNK, BACKSCATTER, LEGIT, QUARANTINE)


def window_settings(target):
    """What main.cf says of the parameters the incident window changes (postconf -n: only what it sets)."""
    return postfix(target, "postconf", "-n", *WINDOW_PARAMETERS).stdout


def master_cf(target):
    with open(os.path.join(lab.target_path(target, "etc"), "master.cf"), "rb") as handle:
        return handle.read()


def sink(target):
    return os.listdir(lab.target_path(target, "sink"))


def test_live_incident_over_five_hosts(fleet, runbook):
    """Junk and legitimate mail keep arriving during the whole run: none of the junk leaves, none of the rest is lost."""
    settings, masters = dict((t, window_settings(t)) for t in fleet), dict((t, master_cf(t)) for t in fleet)
    with live_traffic() as traffic:
        out = runbook("cleanup")
    report = out["report"]
    assert report["host_status"] == {"verified": len(fleet)}, report["host_status"]
    for target, result in truth_of(fleet).items():
        assert result["ok"], (target, result["problems"][:10])
        figures = result["figures"]
        assert figures["live"] > 0 and figures["quarantine"] == QUARANTINE, figures
        phases = report["hosts"][target]["phases"]
        assert phases["window_arrivals"] > 0 and phases["on_hold_before"] == QUARANTINE, phases
        assert phases["purged"] == phases["archived"] >= JUNK + BACKSCATTER and phases["junk_left"] == 0, phases
        # the window is gone: main.cf has exactly its own values again, master.cf was never touched
        assert window_settings(target) == settings[target] and master_cf(target) == masters[target]
        assert not os.path.exists(os.path.join(lab.target_path(target, "etc"), "mailops_incident_window.regexp"))
    # after the fix the compromised account was refused, by SMTP and by sendmail, on every instance
    summary = dict(line.split(": ", 2)[1:] for line in traffic if line.startswith("traffic: h"))
    assert set(summary) == set(fleet)
    assert all("refused junk smtp" in counts and "refused junk sendmail" in counts for counts in summary.values()), summary
    # the relocated host ran the whole runbook with its commands found nowhere but in postfix_bin_dir
    assert in_host("h02", "sh", "-c", "command -v postsuper || ls /usr/sbin/postsuper").returncode != 0


def test_failure_between_hold_and_requeue_end_window_and_rerun(fleet, runbook):
    """Every host fails after its fix: the window stays open and nothing leaves; ending it alone restores main.cf;
    the runbook run again converges."""
    settings = dict((t, window_settings(t)) for t in fleet)
    with live_traffic():
        out = runbook("cleanup", expect_rc=2, fix_tasks_file=os.path.join(HERE, "files", "fix-then-fail.yml"),
                      mailops_lab_dir=LAB, mailops_fault_hosts=fleet)
        report = out["report"]
        assert report["host_status"] == {"partial": len(fleet)}, report["host_status"]
        for target in fleet:
            entry = report["hosts"][target]
            assert entry["window_open"] and any("mailops.postfix.end_window" in p for p in entry["problems"]), entry
        # the relay works again and mail keeps coming, yet nothing has left any host: all of it is held
        assert all(sink(target) == [] for target in fleet)
        held_at_failure = queued_count("h01", "hold")
        for target, result in truth_of(fleet, final=False).items():
            assert result["ok"], (target, result["problems"][:10])
        # the window ended alone on h01: its main.cf as before, what it held still on hold; h05b's window still open
        runbook("end_window", _limit="h01")
        assert window_settings("h01") == settings["h01"]
        assert window_settings("h05b") != settings["h05b"]
        assert queued_count("h01", "hold") >= held_at_failure
        # run again: every host finishes, h01 included (its incident continued from what it left on hold)
        out = runbook("cleanup")
        assert out["report"]["host_status"] == {"verified": len(fleet)}, out["report"]["host_status"]
    for target, result in truth_of(fleet).items():
        assert result["ok"], (target, result["problems"][:10])
        assert window_settings(target) == settings[target]


def test_a_phase_that_fails_keeps_what_it_found(fleet, runbook, tmp_path):
    """A phase is one task (runbook_phase); what it found before it failed survives the failure (kept_facts, taken by
    the runbook's rescue). On h01 the hold's window opens, the queues go on hold, then the hold's audit record can not
    be written (its path is a directory): the report says the window is open and how to end it. On h02 the purge
    deletes nothing (its selection matches none of the junk), so the junk the requeue leaves on hold fails the
    verify's accounting: the report says so, with the accounting's own problems."""
    audit = tmp_path / "audit-log-is-a-directory"
    audit.mkdir()
    settings = window_settings("h01")
    out = runbook("cleanup", expect_rc=2, _limit="h01", hold_audit_log=str(audit))
    assert "its audit record could not be written" in out["output"]
    entry = out["report"]["hosts"]["h01"]
    assert entry["status"] == "partial" and entry["window_open"], entry
    assert any("mailops.postfix.end_window" in problem for problem in entry["problems"]), entry
    # the report tells the truth: the window is open on the host, and nothing has left it
    assert window_settings("h01") != settings and sink("h01") == []
    runbook("end_window", _limit="h01")
    assert window_settings("h01") == settings

    out = runbook("cleanup", expect_rc=2, _limit="h02", purge_junk={"sender": ["nobody@example.invalid"]})
    junk = JUNK + BACKSCATTER
    assert "ACCOUNTING FAILED on h02: %d junk messages arrived after the purge and are still on hold" % junk \
        in out["output"], out["output"][-3000:]
    entry = out["report"]["hosts"]["h02"]
    assert entry["status"] == "verification failed" and not entry["window_open"], entry
    assert entry["problems"][0].startswith("%d junk messages arrived after the purge" % junk), entry
    assert entry["phases"]["purged"] == 0 and queued_count("h02", "hold") >= junk + QUARANTINE


def test_check_mode_changes_nothing(fleet, runbook):
    before = untouched(fleet)
    out = runbook("cleanup", check_mode=True)
    assert untouched(fleet) == before
    report = out["report"]
    assert report["host_status"] == {"check mode": len(fleet)}
    assert report["title"].endswith("(check mode: nothing was changed)")
    # what it would have done: hold everything but the earlier hold
    assert report["total"]["phases"]["held"] == len(fleet) * (GENERATED - QUARANTINE)
    for target in fleet:
        assert sink(target) == []
        assert os.listdir(os.path.join(lab.host_dir(lab.target(target)["host"]), "state")) == []


@pytest.mark.parametrize("stop_on_error", [False, pytest.param(True, marks=pytest.mark.controller_independent)],
                         ids=["others-finish", "stop-on-error"])
def test_postfix_stopped_on_one_host(fleet, runbook, stop_on_error):
    postfix("h04", "postfix", "stop")
    # postfix stop only signals the master; wait until it is gone
    wait_for(lambda: postfix("h04", "postfix", "status", check=False, stderr=subprocess.DEVNULL).returncode != 0,
             60, "h04's Postfix to stop")
    before = dict((target, spool_digest(target)) for target in fleet)
    # stop-on-error with the free strategy asked for: the runbook stays linear, so no host gets past the
    # phase in which h04 failed
    out = runbook("cleanup", expect_rc=2, mailops_stop_on_error=stop_on_error,
                  _env={"ANSIBLE_STRATEGY": "free"} if stop_on_error else {})
    assert out["recap"]["h04"]["failed"] == 1
    assert "is not running on h04" in out["output"]
    assert spool_digest("h04") == before["h04"], "the stopped host's queue changed"
    others = [target for target in fleet if target != "h04"]
    if stop_on_error:
        # nobody went past the assessment; the report is still written and says so
        assert all(spool_digest(target) == before[target] for target in others)
        assert out["report"]["host_status"] == {"assessed": len(fleet)}
    else:
        entry = out["report"]["hosts"]["h04"]
        assert entry["status"] == "assessed" and len(entry["problems"]) == 1
        assert entry["problems"][0].startswith("Postfix is not running: ")
        assert out["report"]["host_status"] == {"verified": len(others), "assessed": 1}
        results = truth_of(others)
        assert all(result["ok"] for result in results.values()), results
    assert truth.check_host("h04", final=False)["figures"]["queued"] == GENERATED


def test_sshd_dies_mid_run_on_one_host(fleet, runbook):
    """h03 loses every sshd process right after its fix: it is reported with its window open, the others finish."""
    out = runbook("cleanup", expect_rc=4, fix_tasks_file=os.path.join(HERE, "files", "kill-sshd-hook.yml"),
                  mailops_lab_dir=LAB, mailops_fault_host="h03")
    assert out["recap"]["h03"]["unreachable"] == 1
    assert out["report"]["host_status"] == {"verified": len(fleet) - 1, "partial": 1}
    entry = out["report"]["hosts"]["h03"]
    assert entry["phases"]["held"] == GENERATED - QUARANTINE and entry["window_open"]
    # h03 keeps everything on hold; the others are clean
    assert queued_count("h03", "hold") == GENERATED
    for target, result in truth_of(fleet, final=False).items():
        assert result["ok"], (target, result["problems"])
        assert result["figures"]["queued"] == (GENERATED if target == "h03" else QUARANTINE)


def first_batch_purged(counts):
    """Everything left is on hold and some junk is gone, legitimate mail and quarantine all still there.

    One listing, never counts from two: while the hold is still moving messages, a hold count taken before and
    a total taken after would look like a purge. Within one listing, postqueue reads the hold queue last, so a
    message moved while it reads is counted in its old queue, in hold, or in both - never in neither.
    """
    return counts["all"] == counts["hold"] and LEGIT + QUARANTINE < counts["hold"] < GENERATED


@pytest.mark.controller_independent
def test_interrupted_purge_then_rerun_converges(fleet, runbook):
    """The run dies while the hosts are purging (modules and controller killed); a second run converges.

    The purge deletes in batches of 5 with 30 s between them: once h01's first batch is gone, every module is
    killed during a pause that lasts far longer than any poll here takes, however busy the machine - no race to
    win. The controller is killed too, and the modules it left on the other hosts, all mid-purge.
    """
    argv, env, _report = runbook.command("cleanup", purge_batch_size=5, purge_batch_pause=30)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # h01's purge has deleted its first batch (everything was held, no legitimate mail released yet)
        wait_for(lambda: proc.poll() is not None or first_batch_purged(queue_snapshot("h01")), 300,
                 "h01's first purge batch", lambda: (proc.poll(), queue_snapshot("h01")))
        assert proc.poll() is None, "the run ended before h01's purge was caught"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
    for target in fleet:
        in_host(target, "pkill", "-KILL", "-f", MODULE_PROCESS)
    for target in fleet:
        wait_for(lambda: in_host(target, "pgrep", "-f", MODULE_PROCESS).returncode != 0, 60,
                 "the killed modules on %s to be gone" % target)
    interrupted = truth.check_host("h01", final=False)
    assert interrupted["ok"], interrupted["problems"]
    # the oracle is strict: as an end state, junk left on hold and legitimate mail never released are failures
    left = truth.check_host("h01", final=True)["problems"]
    assert any(problem.endswith("is still on hold: never purged") for problem in left), left[:5]
    assert any(problem.endswith("held by the runbook, never released") for problem in left), left[:5]
    assert QUARANTINE < interrupted["figures"]["queued"] < GENERATED, (interrupted["figures"], output[-3000:])
    out = runbook("cleanup")
    assert out["report"]["host_status"] == {"verified": len(fleet)}
    for target, result in truth_of(fleet).items():
        assert result["ok"], (target, result["problems"])
        assert result["figures"]["archived"] == JUNK + BACKSCATTER and result["figures"]["delivered"] == LEGIT
