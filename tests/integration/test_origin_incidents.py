# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incidents whose junk has no envelope sender of its own, over the lab fleet, live.

- A compromised SASL login sends with forged, rotating envelope senders (lab/incident.py --scenario login): the
  junk is selected by the login, the fix refuses the login at smtpd. While the window is open a second account
  that no approved junk names starts a burst (lab/fix-second-account.yml): the release guard keeps its mail on
  hold, the report names it with the command that releases it, and that command releases it.
- A web application's local user submits with sendmail and forged senders (--scenario script): the junk is
  selected by origin and a header PHP writes, the fix stops that user submitting.

Mail keeps arriving the whole run (lab/traffic.py, the scenario's own junk and legitimate mail); the outcome is
checked from outside Ansible against the ground truth (lab/truth.py), message by message.
"""

from __future__ import absolute_import, division, print_function

import os
import stat

import pytest

import browser
from lab_fleet import LAB, fresh_fleet, incident, lab, live_traffic, truth, truth_of

pytestmark = pytest.mark.controller_independent

HOSTS = 3           # h01 plain, h02 relocated (its commands only in postfix_bin_dir), h03 long queue IDs
JUNK, BACKSCATTER, LEGIT, QUARANTINE = 30, 2, 10, 2
GUARD = 50          # requeue_guard_max_per_source: above the legitimate traffic's rate per source in a run


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _traffic_summary(lines):
    return dict(line.split(": ", 2)[1:] for line in lines if line.startswith("traffic: h"))


def test_compromised_login_live_with_a_second_account(lab_session, runbook):
    fleet = fresh_fleet(HOSTS, JUNK, BACKSCATTER, LEGIT, QUARANTINE, scenario="login")
    with live_traffic() as traffic:
        out = runbook("cleanup", _vars_file=os.path.join(LAB, "incident-vars-login.yml"),
                      fix_tasks_file=os.path.join(LAB, "fix-second-account.yml"), mailops_lab_dir=LAB,
                      requeue_guard_max_per_source=GUARD)
    report = out["report"]
    assert report["host_status"] == {"verified": len(fleet)}, report["host_status"]
    results = truth_of(fleet)
    for target, result in results.items():
        assert result["ok"], (target, result["problems"][:10])
        figures = result["figures"]
        # the second account's burst reached every host during the window, and all of it is still on hold
        assert figures["second"] > GUARD and figures["quarantine"] == QUARANTINE, figures
        entry = report["hosts"][target]
        assert entry["phases"]["junk_left"] == 0 and entry["phases"]["purged"] >= JUNK, entry["phases"]
        guarded = entry["guarded"]
        assert [row["source"] for row in guarded] == ["sasl_username:%s" % incident.SECOND_LOGIN], guarded
        assert guarded[0]["messages"] == figures["second"], (guarded, figures)
        assert "requeue_release_guarded" in guarded[0]["release"] and "-l %s " % target in guarded[0]["release"]
        # who is sending, as assess saw it before the hold: the compromised login first
        logins = entry["origins"]["top_sasl_usernames"]
        assert logins[0]["sasl_username"] == incident.COMPROMISED_LOGIN, logins
    # after the fix the compromised login is refused on every instance; legitimate logins are not
    summary = _traffic_summary(traffic)
    assert set(summary) == set(fleet)
    assert all("refused junk smtp" in counts and "refused legitimate" not in counts for counts in summary.values()), summary
    # the report says what was kept and how to release it: in Markdown and in HTML, private to the operator
    report_dir = out["report_dir"]
    with open(os.path.join(report_dir, "report.md")) as handle:
        markdown = handle.read()
    assert incident.SECOND_LOGIN in markdown and "requeue_release_guarded" in markdown
    with open(os.path.join(report_dir, "report.html")) as handle:
        html = handle.read()
    assert incident.SECOND_LOGIN in html and "requeue_release_guarded" in html
    assert _mode(report_dir) == 0o700
    assert all(_mode(os.path.join(report_dir, name)) == 0o600 for name in os.listdir(report_dir))
    # the HTML report in a real browser: report.json's totals, no request, a screenshot and a PDF (tests/output)
    browser.check_report(report_dir, report, "report-login-incident")
    # the operator checked the second account's mail on h01 and releases it with the report's command's variable
    source = report["hosts"]["h01"]["guarded"][0]["source"]
    runbook("requeue", _limit="h01", requeue_release_guarded=[source])
    # the ground truth now finds the second account's mail delivered from h01 (it expected it on hold): that, and
    # nothing else, is what changed; h02 kept its guarded mail
    released = truth.check_host("h01")["problems"]
    assert released and all("of the second account" in problem for problem in released), released[:5]
    assert any("of the second account was delivered" in problem for problem in released), released[:5]
    assert truth.check_host("h02")["ok"]


def test_web_script_with_forged_senders_live(lab_session, runbook):
    fleet = fresh_fleet(HOSTS, JUNK, BACKSCATTER, LEGIT, QUARANTINE, scenario="script")
    with live_traffic() as traffic:
        out = runbook("cleanup", _vars_file=os.path.join(LAB, "incident-vars-script.yml"))
    report = out["report"]
    assert report["host_status"] == {"verified": len(fleet)}, report["host_status"]
    for target, result in truth_of(fleet).items():
        assert result["ok"], (target, result["problems"][:10])
        entry = report["hosts"][target]
        assert entry["phases"]["junk_left"] == 0 and entry["phases"]["purged"] >= JUNK, entry["phases"]
        assert not entry.get("guarded"), entry.get("guarded")
        # the web application's user is the top local submitter
        uids = entry["origins"]["top_local_uids"]
        assert uids[0]["local_uid"] == lab.local_uid("mlab-spam"), uids
    # after the fix the script's user can no longer submit; legitimate local mail still goes in
    summary = _traffic_summary(traffic)
    assert set(summary) == set(fleet)
    assert all("refused junk sendmail" in counts and "accepted legitimate sendmail" in counts
               and "refused legitimate" not in counts for counts in summary.values()), summary
