# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The runbook's plan: parts from real listings, a stable content-derived ID, self-contained host parts,
and every reason an apply run refuses one."""

from __future__ import absolute_import, division, print_function

import copy
import json

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _changeplan, _listing, _selection, _summary
from ansible_collections.mailops.postfix.plugins.plugin_utils import _runbook_plan
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW
INPUTS = {"mailops_junk": {"sender": ["junk@spam.example"]}, "purge_junk": {"sender": ["junk@spam.example"]},
          "fix_block_senders": ["junk@spam.example"], "hold_window": True, "purge_max_messages": None}
FIX = {"path": "/srv/fix.yml", "sha256": "ab" * 32}


def part_of(host, name):
    listing = _listing.parse_json_lines(captures.read(name))
    selector = _selection.Selector(queues=["incoming", "active", "deferred"], now=NOW)
    junk = list(selector.select(listing))[:3]
    instance = {"name": "postfix", "config_dir": "/etc/postfix"}
    action_plan = _changeplan.host_plan("delete", selector.given, "3.7.11", instance, NOW, junk)
    assessment = {"summary": _summary.summarize(listing, now=NOW), "instance": instance, "postfix_version": "3.7.11",
                  "time": NOW, "on_hold_before": 2, "affected": True}
    return _runbook_plan.host_part(host, assessment, action_plan)


@pytest.fixture
def plan():
    parts = {"h1": part_of("h1", "mixed_all_queues_postqueue-j.stdout"),
             "h2": part_of("h2", "mixed_longids_postqueue-j.stdout"), "h3": None}
    return _runbook_plan.fleet_plan(parts, INPUTS, NOW, "alice", fix_tasks=FIX)


INSTANCE = {"name": "postfix", "config_dir": "/etc/postfix"}


def check(kept, plan_id, host="h1", instance=None, now=NOW + 60, fix_tasks="default"):
    return _runbook_plan.check_part(kept, plan_id, host, instance or INSTANCE, now, 3600,
                                    FIX if fix_tasks == "default" else fix_tasks)


def test_the_plan_counts_and_id(plan):
    assert plan["hosts_without_plan"] == ["h3"] and plan["totals"]["hosts"] == 2
    assert plan["totals"]["purge"] == 6 and len(plan["plan_id"]) == 32
    for host, part in plan["hosts"].items():
        assert part["requeue"]["count"] == part["hold"]["count"] - part["purge"]["count"]
        assert plan["digests"][host] == _runbook_plan.part_digest(part)
    again = _runbook_plan.fleet_plan({"h2": part_of("h2", "mixed_longids_postqueue-j.stdout"),
                                      "h1": part_of("h1", "mixed_all_queues_postqueue-j.stdout")},
                                     INPUTS, NOW, "alice", fix_tasks=FIX)
    assert again["plan_id"] == plan["plan_id"]        # content, not the order of the hosts
    for changed in (dict(inputs=dict(INPUTS, fix_block_senders=[])), dict(operator="bob"), dict(created=NOW + 1)):
        arguments = dict(inputs=INPUTS, created=NOW, operator="alice")
        arguments.update(changed)
        other = _runbook_plan.fleet_plan({"h1": part_of("h1", "mixed_all_queues_postqueue-j.stdout"),
                                          "h2": part_of("h2", "mixed_longids_postqueue-j.stdout")},
                                         arguments["inputs"], arguments["created"], arguments["operator"], fix_tasks=FIX)
        assert other["plan_id"] != plan["plan_id"], changed
    assert "held as it arrives" in plan["window_rule"] and "junk@spam.example" in plan["window_rule"]


def test_a_host_part_is_self_contained_and_applies(plan):
    kept = _runbook_plan.part_for(plan, "h1")
    assert kept["plan_id"] == plan["plan_id"] and kept["header"]["inputs"] == plan["inputs"]
    assert kept["part"] == plan["hosts"]["h1"] and "h2" not in json.dumps(kept["part"])
    assert _runbook_plan.part_for(plan, "h3") is None
    assert check(kept, plan["plan_id"]) == []
    applied = _runbook_plan.applied(kept, plan["plan_id"], "h1", INSTANCE)
    assert applied["inputs"] == dict((name, INPUTS.get(name)) for name in _runbook_plan.INPUTS)
    assert applied["fix_tasks"] == FIX and applied["purge"]["count"] == 3
    # the action's plan it carries is what postfix_queue_action applies, with the approved ID for its audit line
    assert applied["purge"]["fingerprints"]["plan_id"] == plan["plan_id"]
    _changeplan.validate(applied["purge"]["fingerprints"], "delete", "/etc/postfix", NOW + 60, 3600)


def tampered(plan, change):
    kept = copy.deepcopy(_runbook_plan.part_for(plan, "h1"))
    change(kept)
    return kept


def _extra_variable(kept):
    kept["header"]["inputs"]["ansible_connection"] = "local"


def _wider_junk(kept):
    kept["header"]["inputs"]["mailops_junk"] = {"sender_domain": ["example.org"]}


def _extra_junk_message(kept):
    kept["part"]["purge"]["plan"]["messages"].append(dict(kept["part"]["purge"]["plan"]["messages"][0], queue_id="ABCDEF12345"))


def _tool_path(kept):
    kept["header"]["fix_tasks"] = {"path": "/tmp/evil.yml", "sha256": "00" * 32}


def _new_header_key(kept):
    kept["header"]["mailops_instance"] = {"postfix_tool_paths": {"postsuper": "/tmp/x"}}


def _digest_rewritten(kept):
    """The host rewrites its part and the digest in its header: the ID no longer matches."""
    kept["part"]["purge"]["count"] = 0
    kept["header"]["digests"]["h1"] = _runbook_plan.part_digest(kept["part"])


@pytest.mark.parametrize("change, words", [
    (_extra_variable, "hashes to"), (_wider_junk, "hashes to"), (_tool_path, "hashes to"),
    (_new_header_key, "has keys no plan has (mailops_instance)"), (_digest_rewritten, "hashes to"),
    (_extra_junk_message, "its digest differs"),
], ids=["extra-variable", "wider-junk", "fix-tasks", "header-key", "digest-rewritten", "part-edited"])
def test_a_part_altered_on_the_host_is_refused(plan, change, words):
    """Root on one mail server edits the part it keeps: the apply refuses it, naming why, and uses nothing of it."""
    kept = tampered(plan, change)
    problems = check(kept, plan["plan_id"])
    assert len(problems) == 1 and problems[0].startswith("mailops_plan_id: ") and words in problems[0], problems
    with pytest.raises(_runbook_plan.PlanError):
        _runbook_plan.applied(kept, plan["plan_id"], "h1", INSTANCE)


def test_a_part_with_an_extra_variable_and_a_matching_id_is_still_refused(plan):
    """Even a plan whose ID matches (made by hand with an extra input) gives only the runbook's inputs."""
    header = copy.deepcopy(_runbook_plan.part_for(plan, "h1")["header"])
    header["inputs"]["ansible_connection"] = "local"
    forged = {"plan_id": _runbook_plan.plan_id_of(header), "header": header, "part": plan["hosts"]["h1"]}
    (problem,) = check(forged, forged["plan_id"])
    assert "not runbook inputs (ansible_connection)" in problem


def test_parts_swapped_between_hosts_are_refused(plan):
    """h2's part on h1's disk (or h1's on h2's): the host it names is not the one applying it."""
    h2_part = _runbook_plan.part_for(plan, "h2")
    (problem,) = check(h2_part, plan["plan_id"], host="h1")
    assert "is not h1's part of plan" in problem and "made for h2" in problem
    relabelled = copy.deepcopy(h2_part)
    relabelled["part"]["host"] = "h1"
    (problem,) = check(relabelled, plan["plan_id"], host="h1")
    assert "its digest differs" in problem
    (problem,) = check(_runbook_plan.part_for(plan, "h1"), plan["plan_id"], host="h3")
    assert "has no part for h3" in problem


@pytest.mark.parametrize("change, words", [
    (dict(now=NOW + 7200), "mailops_plan_id: plan %s is 2h00m old, older than mailops_plan_max_age (1h00m): it is stale"),
    (dict(now=NOW - 3600), "mailops_plan_id: plan %s was made 1h00m in the future"),
    (dict(plan_id="0" * 32), "mailops_plan_id: the plan kept on h1 under %s hashes to" % ("0" * 32)),
    (dict(instance={"name": "postfix", "config_dir": "/etc/postfix-out"}),
     "mailops_plan_id: plan %s is for the instance postfix at /etc/postfix, not postfix at /etc/postfix-out"),
    (dict(instance={"name": "postfix-out", "config_dir": "/etc/postfix"}),
     "mailops_plan_id: plan %s is for the instance postfix at /etc/postfix, not postfix-out"),
    (dict(fix_tasks=None), "fix_tasks_file: the approved plan runs /srv/fix.yml"),
    (dict(fix_tasks={"path": "/srv/fix.yml", "sha256": "cd" * 32}), "fix_tasks_file: /srv/fix.yml is not the tasks file"),
])
def test_an_apply_refuses(plan, change, words):
    kept = _runbook_plan.part_for(plan, "h1")
    arguments = dict(plan_id=plan["plan_id"], instance=INSTANCE, now=NOW + 60, fix_tasks=FIX)
    arguments.update(change)
    problems = check(kept, **arguments)
    expected = words % plan["plan_id"] if "%s" in words else words
    assert any(problem.startswith(expected) for problem in problems), problems


def test_something_not_a_plan_is_refused(plan):
    kept = copy.deepcopy(_runbook_plan.part_for(plan, "h1"))
    kept["header"]["format"] = 2
    assert check(kept, plan["plan_id"])[0].startswith("mailops_plan_id: the plan kept on h1 for %s is not a" % plan["plan_id"])
    assert check({"plan_id": plan["plan_id"]}, plan["plan_id"])[0].endswith("is not a plan part of this collection")
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


def test_markdown_says_which_hosts_were_sampled(plan):
    plan["hosts"]["h1"]["origins"] = {"read": 10000, "sampled_from": 101000,
                                      "top_sasl_usernames": [{"sasl_username": "intern@example.org", "messages": 9900}]}
    plan["hosts"]["h2"]["origins"] = {"read": 40, "top_sasl_usernames": []}
    text = _runbook_plan.render_markdown(plan)
    assert "h1: 10000 queue files read, an even sample of 101000 messages" in text
    assert "h2: 40 queue files read" not in text          # read whole: nothing to say
