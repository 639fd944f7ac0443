# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_reload through Ansible, on the default instance, with an SMTP session held open across the reload.

Postfix's own reload returns at once; the smtpd serving a session opened before it keeps the old settings until the
session ends. The module must come back only once that smtpd has exited - or, at its timeout, name it.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import smtplib
import subprocess
import threading

import pytest

import live_postfix

pytestmark = pytest.mark.controller_independent


def reload(playbook, **options):
    out = playbook("postfix_reload", scenario="one_call", options=options)
    return out["results"]["outcome"]


def session_smtpd(session):
    """The PID of the smtpd serving SESSION (an smtplib client), found by its connection's ports with ss(8)."""
    local_port = session.sock.getsockname()[1]
    out = subprocess.run(["ss", "-Htnp", "state", "established", "( sport = :%d and dport = :%d )"
                          % (live_postfix.SMTP_PORT, local_port)],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    pids = set(int(pid) for pid in re.findall(r'"smtpd",pid=(\d+)', out))
    assert len(pids) == 1, out
    return pids.pop()


def alive(pid):
    return os.path.exists("/proc/%d" % pid)


def qmgr_pid(postfix):
    """The instance's qmgr (a reload replaces it: it is how the test sees that the master has reloaded)."""
    master = postfix.master_pid()
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as handle:
                name, _sep, rest = handle.read().rpartition(")")
        except (IOError, OSError):
            continue
        if name.endswith("(qmgr") and int(rest.split()[1]) == master:
            return int(entry)
    return None


def test_a_session_open_past_the_timeout_is_named_and_the_task_goes_on(playbook, postfix):
    with smtplib.SMTP("127.0.0.1", live_postfix.SMTP_PORT) as session:
        session.ehlo("client.test")
        pid = session_smtpd(session)
        outcome = reload(playbook, wait_timeout=2)
        # the reload happened and the module waited its whole timeout for the smtpd still serving the session
        assert outcome["changed"] and not outcome.get("failed"), outcome
        assert {"pid": pid, "command": "smtpd"} in outcome["waited_for"], outcome
        assert outcome["still_running"] == [{"pid": pid, "command": "smtpd"}], outcome
        assert outcome["seconds"] >= 2
        assert any("smtpd started before the reload is still running" in warning and "pid %d" % pid in warning
                   for warning in outcome["warnings"]), outcome["warnings"]
        assert outcome["instance"]["config_dir"] == "/etc/postfix"
        # the old smtpd still serves the session: its client can go on
        assert session.noop()[0] == 250
        assert alive(pid)
    # its session over, the old smtpd exits (as Postfix's reload asked)
    live_postfix.wait_for(lambda: not alive(pid), 30, "the old smtpd to exit once its session ended")


def test_the_reload_returns_once_the_session_opened_before_it_has_ended(playbook, postfix):
    postfix.reset()
    qmgr_before = qmgr_pid(postfix)
    results = []
    with smtplib.SMTP("127.0.0.1", live_postfix.SMTP_PORT) as session:
        session.ehlo("client.test")
        pid = session_smtpd(session)
        task = threading.Thread(target=lambda: results.append(reload(playbook)))
        task.start()
        try:
            # the master has reloaded once its qmgr is a new one; the session's smtpd is still the old one
            live_postfix.wait_for(lambda: qmgr_pid(postfix) not in (None, qmgr_before), 120, "the master to reload")
            assert alive(pid) and task.is_alive()
            # a message the old smtpd accepts after the reload: it is queued before the module returns
            session.sendmail("before-reload@example.com", ["user@example.com"], b"Subject: old session\r\n\r\nhi\r\n")
        finally:
            session.quit()
            task.join(300)
    assert not task.is_alive() and results, "the module did not return"
    outcome = results[0]
    assert outcome["changed"] and not outcome.get("failed"), outcome
    assert {"pid": pid, "command": "smtpd"} in outcome["waited_for"] and outcome["still_running"] == [], outcome
    assert not outcome.get("warnings"), outcome
    # when it returned, the smtpd that had started before the reload was gone, and its message was queued
    assert not alive(pid)
    assert any(message["sender"] == "before-reload@example.com" for message in postfix.queue())


def test_check_mode_does_not_reload(playbook, postfix):
    qmgr_before = qmgr_pid(postfix)
    out = playbook("postfix_reload", scenario="one_call", options={}, check_mode=True)
    outcome = out["results"]["outcome"]
    assert outcome["changed"] and outcome["waited_for"] == [] and outcome["seconds"] == 0
    assert qmgr_pid(postfix) == qmgr_before


def test_a_negative_timeout_is_refused_before_the_reload(playbook, postfix):
    qmgr_before = qmgr_pid(postfix)
    out = playbook("postfix_reload", scenario="one_call", options={"wait_timeout": -1}, allow_failure=True)
    outcome = out["results"]["outcome"]
    assert outcome["failed"] and "wait_timeout must be 0 or more seconds, not -1. Nothing was reloaded." in outcome["msg"]
    assert qmgr_pid(postfix) == qmgr_before
