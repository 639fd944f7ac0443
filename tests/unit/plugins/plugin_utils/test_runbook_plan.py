# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook's plan: parts from real listings, a stable content-derived ID, self-contained host parts,
and every reason an apply run refuses one."""

from __future__ import absolute_import, division, print_function

import copy

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _changeplan, _queue
from ansible_collections.mailops.postfix.plugins.plugin_utils import _runbook_plan
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW
INPUTS = {"mailops_junk": {"sender": ["junk@spam.example"]}, "purge_selection": {"sender": ["junk@spam.example"]},
          "fix_block_senders": ["junk@spam.example"], "hold_window": True, "purge_max_messages": None}
FIX = {"path": "/srv/fix.yml", "sha256": "ab" * 32}


def part_of(host, name):
    listing = _queue.parse_json_lines(captures.read(name))
    selector = _queue.Selector(queues=["incoming", "active", "deferred"], now=NOW)
    junk = list(selector.select(listing))[:3]
    instance = {"name": "postfix", "config_dir": "/etc/postfix"}
    action_plan = _changeplan.host_plan("delete", selector.given, "3.7.11", instance, NOW, junk)
    assessment = {"summary": _queue.summarize(listing, now=NOW), "instance": instance, "postfix_version": "3.7.11",
                  "time": NOW, "on_hold_before": 2, "affected": True}
    return _runbook_plan.host_part(host, assessment, action_plan)


@pytest.fixture
def plan():
    parts = {"h1": part_of("h1", "mixed_all_queues_postqueue-j.stdout"),
             "h2": part_of("h2", "mixed_longids_postqueue-j.stdout"), "h3": None}
    return _runbook_plan.fleet_plan(parts, INPUTS, NOW, "alice", fix_tasks=FIX)


def test_the_plan_counts_and_id(plan):
    assert plan["hosts_without_plan"] == ["h3"] and plan["totals"]["hosts"] == 2
    assert plan["totals"]["purge"] == 6
    for part in plan["hosts"].values():
        assert part["requeue"]["count"] == part["hold"]["count"] - part["purge"]["count"]
        assert part["purge"]["plan"]["plan_id"] == plan["plan_id"]
    again = _runbook_plan.fleet_plan({"h2": part_of("h2", "mixed_longids_postqueue-j.stdout"),
                                      "h1": part_of("h1", "mixed_all_queues_postqueue-j.stdout")},
                                     INPUTS, NOW, "bob", fix_tasks=FIX)
    assert again["plan_id"] == plan["plan_id"]        # content, not order or operator
    other = _runbook_plan.fleet_plan({"h1": part_of("h1", "mixed_all_queues_postqueue-j.stdout")},
                                     dict(INPUTS, fix_block_senders=[]), NOW, "alice", fix_tasks=FIX)
    assert other["plan_id"] != plan["plan_id"]
    assert "held as it arrives" in plan["window_rule"] and "junk@spam.example" in plan["window_rule"]


def test_a_host_part_is_self_contained_and_applies(plan):
    part = _runbook_plan.part_for(plan, "h1")
    assert part["plan_id"] == plan["plan_id"] and part["inputs"] == plan["inputs"] and part["fix_tasks"] == FIX
    assert _runbook_plan.part_for(plan, "h3") is None
    assert _runbook_plan.check_part(part, plan["plan_id"], "h1", "/etc/postfix", NOW + 60, 3600, FIX) == []
    # the action's part it carries is what postfix_queue_action applies
    _changeplan.validate(part["purge"]["plan"], "delete", "/etc/postfix", NOW + 60, 3600)


@pytest.mark.parametrize("change, words", [
    (dict(now=NOW + 7200), "mailops_plan_id: plan %s is 2h00m old, older than mailops_plan_max_age (1h00m): it is stale"),
    (dict(now=NOW - 3600), "mailops_plan_id: plan %s was made 1h00m in the future"),
    (dict(plan_id="0000000000000000"), "mailops_plan_id: the plan kept on h1 under 0000000000000000 says it is %s"),
    (dict(config_dir="/etc/postfix-out"), "mailops_plan_id: plan %s is for the instance at /etc/postfix, not /etc/postfix-out"),
    (dict(fix_tasks=None), "fix_tasks_file: the approved plan runs /srv/fix.yml"),
    (dict(fix_tasks={"path": "/srv/fix.yml", "sha256": "cd" * 32}), "fix_tasks_file: /srv/fix.yml is not the tasks file"),
])
def test_an_apply_refuses(plan, change, words):
    part = _runbook_plan.part_for(plan, "h1")
    arguments = dict(plan_id=plan["plan_id"], config_dir="/etc/postfix", now=NOW + 60, fix_tasks=FIX)
    arguments.update(change)
    problems = _runbook_plan.check_part(part, arguments["plan_id"], "h1", arguments["config_dir"], arguments["now"],
                                        3600, arguments["fix_tasks"])
    expected = words % plan["plan_id"] if "%s" in words else words
    assert any(problem.startswith(expected) for problem in problems), problems


def test_something_not_a_plan_is_refused(plan):
    part = copy.deepcopy(_runbook_plan.part_for(plan, "h1"))
    part["format"] = 1
    assert _runbook_plan.check_part(part, plan["plan_id"], "h1", "/etc/postfix", NOW, 3600, FIX)[0].startswith(
        "mailops_plan_id: the plan file kept on h1")
    with pytest.raises(_runbook_plan.PlanError):
        _runbook_plan.part_for({"format": 1}, "h1")


def test_overridden_inputs_are_named():
    assert _runbook_plan.overridden(INPUTS, dict(INPUTS)) == []
    assert _runbook_plan.overridden(INPUTS, dict(INPUTS, mailops_junk={"sender": ["other@example.org"]},
                                                 purge_max_messages=5)) == ["mailops_junk", "purge_max_messages"]


def test_markdown_and_artifact(plan):
    text = _runbook_plan.render_markdown(plan, limit=2)
    assert plan["plan_id"] in text and "mailops_mode=apply mailops_plan_id=%s" % plan["plan_id"] in text
    assert "| ... 1 more in plan.json |" in text and "No plan (unreachable or failed): h3" in text
    artifact = _runbook_plan.artifact(plan, "/var/lib/mailops-postfix/INSTANCE/plans/x.json")
    assert artifact["id"] == plan["plan_id"] and artifact["totals"] == plan["totals"]
    assert set(artifact["hosts"]) == {"h1", "h2"} and artifact["hosts"]["h1"]["purge"] == 3
