# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Change-managed runs on the lab: plan, change the queue on purpose, apply exactly what still matches.

Two lab hosts with a small incident. Plans are made by check-mode runs of the phase playbooks
(mailops_plan_dir), applied with hold_apply_plan / purge_apply_plan and an explicit approval;
the audit log on the controller and the audit line in each host's Postfix log are checked against
what Postfix did.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import time

import pytest

from lab_fleet import fresh_fleet, in_host, lab, spool_digest, truth_of

HOSTS = ["h01", "h02"]
JUNK, BACKSCATTER, LEGIT = 20, 4, 8


@pytest.fixture
def fleet(lab_session):
    """A fresh lab with a fresh incident on every host."""
    return fresh_fleet(len(HOSTS), JUNK, BACKSCATTER, LEGIT)


def listing(host):
    return dict((m["queue_id"], m) for m in lab.listing(host))


def wait_until(condition, what, timeout=60):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, what
        time.sleep(0.1)


def deliver_one(host, queue_id):
    """Really deliver one deferred message: relay to the sink, ask for that ID, wait, relay back."""
    in_host(host, "postconf", "-e", "relayhost=[127.0.0.1]:10026", check=True)
    in_host(host, "postfix", "reload", check=True, stderr=subprocess.DEVNULL)
    in_host(host, "postqueue", "-i", queue_id, check=True)
    wait_until(lambda: queue_id not in listing(host), "%s was not delivered" % queue_id)
    in_host(host, "postconf", "-e", "relayhost=[127.0.0.1]:10025", check=True)
    in_host(host, "postfix", "reload", check=True, stderr=subprocess.DEVNULL)


def requeue_one(host, queue_id):
    """postsuper -r: the message comes back under a new ID (and stays deferred: the relay is dead)."""
    in_host(host, "postsuper", "-r", queue_id, check=True, stderr=subprocess.DEVNULL)
    in_host(host, "postkick", "public", "pickup", "W", check=True)
    wait_until(lambda: queue_id not in listing(host)
               and all(m["queue_name"] == "deferred" for m in listing(host).values()),
               "%s was not requeued" % queue_id)


def test_plan_change_apply_replay_stale(fleet, runbook, tmp_path):
    plans = str(tmp_path / "plans")
    audit = str(tmp_path / "audit.jsonl")
    before = dict((host, spool_digest(host)) for host in fleet)
    runbook("hold", check_mode=True, mailops_plan_dir=plans)
    assert dict((host, spool_digest(host)) for host in fleet) == before, "planning changed a queue"
    with open(os.path.join(plans, "hold-plan.json")) as handle:
        plan = json.load(handle)
    with open(os.path.join(plans, "hold-plan.md")) as handle:
        assert "Plan `%s`" % plan["plan_id"] in handle.read()
    everything = JUNK + BACKSCATTER + LEGIT
    assert plan["totals"] == {"hosts": 2, "messages": 2 * everything}
    planned = [entry["queue_id"] for entry in plan["hosts"]["h01"]["messages"]]

    # the queue changes on purpose after the review: one message delivered, one requeued (new ID)
    delivered, requeued = planned[0], planned[1]
    deliver_one("h01", delivered)
    old_ids = set(listing("h01"))
    requeue_one("h01", requeued)
    new_id = (set(listing("h01")) - old_ids).pop()

    # without approval nothing is applied
    runbook("hold", expect_rc=2, hold_apply_plan=os.path.join(plans, "hold-plan.json"), plan_approved_id="0" * 16)
    assert all(m["queue_name"] == "deferred" for host in fleet for m in listing(host).values())

    runbook("hold", hold_apply_plan=os.path.join(plans, "hold-plan.json"), plan_approved_id=plan["plan_id"],
            mailops_audit_log=audit)
    h01 = listing("h01")
    held = sorted(queue_id for queue_id, m in h01.items() if m["queue_name"] == "hold")
    assert held == sorted(set(planned) - {delivered, requeued})
    assert h01[new_id]["queue_name"] == "deferred", "a message the plan does not name was touched"
    assert all(m["queue_name"] == "hold" for m in listing("h02").values())
    with open(audit) as handle:
        records = dict((record["host"], record) for record in map(json.loads, handle))
    assert sorted(records) == fleet
    assert sorted(records["h01"]["queue_ids"]) == held and records["h01"]["changed_count"] == everything - 2
    assert records["h01"]["plan_id"] == plan["plan_id"] and records["h01"]["result"] == "ok"
    assert sorted(entry["queue_id"] for entry in records["h01"]["skipped_changed"]) == sorted([delivered, requeued])
    assert all(entry["reason"].startswith("gone since the plan") for entry in records["h01"]["skipped_changed"])
    assert records["h02"]["changed_count"] == everything and records["h02"]["skipped_changed"] == []
    lines = []

    def audit_lines():   # postlogd writes asynchronously
        with open(os.path.join(lab.host_dir("h01"), "log", "postfix.log")) as handle:
            lines[:] = [line for line in handle if "mailops.postfix" in line]
        return lines
    wait_until(audit_lines, "no audit line in h01's Postfix log")
    assert len(lines) == 1 and "plan=%s" % plan["plan_id"] in lines[0] and "changed=%d" % (everything - 2) in lines[0]

    # replaying the plan changes nothing; a stale plan is refused and changes nothing
    after = dict((host, spool_digest(host)) for host in fleet)
    out = runbook("hold", hold_apply_plan=os.path.join(plans, "hold-plan.json"), plan_approved_id=plan["plan_id"])
    assert out["recap"]["h01"]["changed"] == 0 and out["recap"]["h02"]["changed"] == 0
    assert dict((host, spool_digest(host)) for host in fleet) == after
    stale = dict(plan, created=plan["created"] - 7200,
                 hosts=dict((host, dict(part, created=part["created"] - 7200)) for host, part in plan["hosts"].items()))
    stale_file = os.path.join(plans, "stale-plan.json")
    with open(stale_file, "w") as handle:
        json.dump(stale, handle)
    out = runbook("hold", expect_rc=2, hold_apply_plan=stale_file, plan_approved_id=plan["plan_id"])
    assert "older than plan_max_age" in out["output"]
    assert dict((host, spool_digest(host)) for host in fleet) == after


@pytest.mark.controller_independent
def test_gated_cleanup(fleet, runbook, tmp_path):
    """plan hold -> approve -> apply hold -> fix -> plan purge -> approve -> apply purge -> requeue -> verify."""
    plans = str(tmp_path / "plans")
    audit = str(tmp_path / "audit.jsonl")
    before = dict((host, spool_digest(host)) for host in fleet)
    # no approval (no terminal to answer the prompt): the run stops before the first change
    out = runbook("cleanup", expect_rc=2, mailops_plan_dir=plans)
    assert "was not approved" in out["output"]
    assert dict((host, spool_digest(host)) for host in fleet) == before
    out = runbook("cleanup", mailops_plan_dir=plans, plan_auto_approve=True, mailops_audit_log=audit)
    report = out["report"]
    assert report["host_status"] == {"verified": 2}
    for phase in ("hold", "purge"):
        with open(os.path.join(plans, "%s-plan.json" % phase)) as handle:
            plan = json.load(handle)
        assert all(report["hosts"][host]["plans"][phase] == plan["plan_id"] for host in fleet)
    assert report["audit_log"] == audit
    with open(audit) as handle:
        records = [json.loads(line) for line in handle]
    # hold, purge and requeue on each host; the purge's IDs are exactly the junk the ground truth names
    assert sorted((r["host"], r["action"]) for r in records) == sorted(
        (host, action) for host in fleet for action in ("hold", "delete", "requeue"))
    for host, result in truth_of(fleet).items():
        assert result["ok"], (host, result["problems"])
        with open(os.path.join(lab.STATE, "truth", host + ".json")) as handle:
            junk = sorted(m["queue_id"] for m in json.load(handle)["messages"] if m["kind"] != "legitimate")
        purge = [r for r in records if r["host"] == host and r["action"] == "delete"][0]
        assert sorted(purge["queue_ids"]) == junk and purge["archive"]
