# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planning, guards and accounting of actions, on the real mixed-queue capture."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _plan, _queue
from ansible_collections.mailops.postfix.plugins.module_utils._postsuper import parse_postsuper
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW


@pytest.fixture(scope="module")
def queue():
    return _queue.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))


def by_queue(queue):
    result = {}
    for message in queue:
        result.setdefault(message["queue_name"], []).append(message["queue_id"])
    return result


def test_hold_groups_by_queue_and_skips_maildrop_and_held(queue):
    plan = _plan.plan("hold", queue, NOW)
    queues = by_queue(queue)
    assert plan.groups == {("active",): queues["active"], ("incoming",): queues["incoming"],
                           ("deferred",): queues["deferred"]}
    assert plan.already == queues["hold"]
    assert [c["queue_id"] for c in plan.cannot] == queues["maildrop"]
    assert all(c["reason"] == "hold does not act on mail in maildrop" for c in plan.cannot)


def test_release_acts_on_hold_only(queue):
    plan = _plan.plan("release", queue, NOW)
    assert plan.groups == {("hold",): by_queue(queue)["hold"]}
    assert len(plan.already) == 14 and plan.cannot == []


def test_delete_acts_everywhere(queue):
    plan = _plan.plan("delete", queue, NOW)
    assert sorted(plan.queue_ids) == sorted(m["queue_id"] for m in queue)


def test_unmarked_text_entries_are_restricted_to_their_possible_queues():
    text = _queue.parse_mailq(captures.read("mixed_all_queues_postqueue-p.stdout"), now=NOW)
    hold = _plan.plan("hold", text, NOW)
    assert set(hold.groups) == {("deferred", "incoming"), ("active",)}
    release = _plan.plan("release", text, NOW)
    assert set(release.groups) == {("hold",)} and len(release.already) == 14
    delete = _plan.plan("delete", text, NOW)
    assert set(delete.groups) == {("deferred", "incoming", "maildrop"), ("active",), ("hold",)}


def test_expire_skips_what_is_already_expired():
    expired = captures.semantics()["json_held_expired"]["json"]
    plan = _plan.plan("expire", [expired], NOW)
    assert plan.already == [expired["queue_id"]] and not plan.groups
    plan = _plan.plan("expire_release", [expired], NOW)   # expired but still held: -f releases it
    assert plan.groups == {("hold",): [expired["queue_id"]]}


def test_release_of_long_held_mail(queue):
    held = [m for m in queue if m["queue_name"] == "hold"]
    lifetimes = {"maximal_queue_lifetime": 5 * 86400, "bounce_queue_lifetime": 5 * 86400}
    later = NOW + 6 * 86400
    plan = _plan.plan("release", held, later, "requeue", lifetimes)
    assert sorted(plan.long_held) == sorted(m["queue_id"] for m in held) and not plan.groups
    plan = _plan.plan("release", held, later, "release", lifetimes)
    assert plan.long_held == [] and len(plan.groups[("hold",)]) == 2
    with pytest.raises(_plan.ActionError) as error:
        _plan.plan("release", held, later, "fail", lifetimes)
    assert "would bounce it at once" in str(error.value)
    assert _plan.plan("release", held, NOW, "requeue", lifetimes).long_held == []


def test_bounces_use_bounce_queue_lifetime(queue):
    bounce = dict([m for m in queue if m["sender"] == "MAILER-DAEMON"][0], queue_name="hold")
    lifetimes = {"maximal_queue_lifetime": 5 * 86400, "bounce_queue_lifetime": 86400}
    assert _plan.plan("release", [bounce], NOW + 2 * 86400, "requeue", lifetimes).long_held == [bounce["queue_id"]]


@pytest.mark.parametrize("value,seconds", [("5d", 432000), ("5", 432000), ("1h", 3600), ("90s", 90), ("2w", 1209600)])
def test_postfix_time(value, seconds):
    assert _plan.postfix_time(value) == seconds


def test_guards():
    empty = _queue.Selector(now=NOW)
    some = _queue.Selector(sender="a@example.org", now=NOW)
    with pytest.raises(_plan.ActionError) as error:
        _plan.check_guards("delete", empty, 5)
    assert "all: true" in str(error.value)
    with pytest.raises(_plan.ActionError):
        _plan.check_guards("hold", empty, 5)          # no action on ALL unless asked
    _plan.check_guards("hold", empty, 5, all_messages=True)
    _plan.check_guards("delete", some, 5, max_messages=5, expect_count=5)
    with pytest.raises(_plan.ActionError) as error:
        _plan.check_guards("delete", some, 6, max_messages=5)
    assert "more than max_messages=5" in str(error.value)
    with pytest.raises(_plan.ActionError) as error:
        _plan.check_guards("delete", some, 4, expect_count=5)
    assert "not expect_count=5" in str(error.value)


def test_batches():
    assert _plan.batches(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert _plan.batches([], 2) == []
    with pytest.raises(_plan.ActionError):
        _plan.batches(["a"], 0)


def test_account_from_real_postsuper_output():
    case = captures.semantics()["hold_stdin_messy"]
    message = {"queue_name": "deferred", "arrival_time": NOW, "forced_expire": False, "sender": "s@example.org",
               "recipients": [], "message_size": 1}
    queue = [dict(message, queue_id=i) for i in ("1B6FA1720E1", "1CD0A1720E4", "0123456789A")]
    plan = _plan.plan("hold", queue, NOW)
    changed, vanished, pending = _plan.account(plan, [("h", plan.queue_ids, parse_postsuper(case["stderr"]))])
    assert changed == ["1B6FA1720E1", "1CD0A1720E4"]
    assert vanished == ["0123456789A"] and pending == []


def test_account_of_a_run_stopped_part_way():
    outcome = parse_postsuper(captures.read("stopped_postsuper-H_4ids_stdin.stderr"))
    message = {"queue_name": "hold", "arrival_time": NOW, "forced_expire": False, "sender": "s@example.org",
               "recipients": [], "message_size": 1}
    ids = ["661AD172006", "661AD172007", "661AD172008", "661AD172009"]
    plan = _plan.plan("release", [dict(message, queue_id=i) for i in ids], NOW)
    batches = _plan.batches(plan.queue_ids, 2)
    changed, vanished, pending = _plan.account(plan, [("H", batches[0], outcome)], failed=True)
    # postsuper died after the first ID: the second was never looked at, so it is pending, not vanished
    assert changed == ["661AD172006"] and vanished == [] and pending == ids[1:]
    changed, vanished, pending = _plan.account(plan, [("H", batches[0], outcome)])
    assert vanished == ["661AD172007"] and pending == ids[2:]


def test_diff_text(queue):
    plan = _plan.plan("delete", [queue[0]], NOW)
    assert _plan.diff_text(plan.diff, "before") == "8FB47160045 maildrop\n"
    assert _plan.diff_text(plan.diff, "after") == "8FB47160045 (deleted)\n"


def test_restrict_to_what_was_archived(queue):
    plan = _plan.plan("delete", queue, NOW)
    everything = plan.queue_ids
    kept, gone = everything[:3], everything[3:4]
    plan.restrict_to(kept, gone)
    assert sorted(plan.queue_ids) == sorted(kept)
    assert plan.already == gone
    assert all(group for group in plan.groups.values())     # no empty batch is left to run
