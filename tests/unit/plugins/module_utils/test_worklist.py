# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Work lists, guards and accounting of actions, on the real mixed-queue capture."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _listing, _selection, _worklist
from ansible_collections.mailops.postfix.plugins.module_utils._postsuper import parse_postsuper
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW


@pytest.fixture(scope="module")
def queue():
    return _listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))


def by_queue(queue):
    result = {}
    for message in queue:
        result.setdefault(message["queue_name"], []).append(message["queue_id"])
    return result


def test_hold_groups_by_queue_and_skips_maildrop_and_held(queue):
    work = _worklist.work_list("hold", queue, NOW)
    queues = by_queue(queue)
    assert work.by_queue == {("active",): queues["active"], ("incoming",): queues["incoming"],
                             ("deferred",): queues["deferred"]}
    assert work.vanished == queues["hold"]
    assert [c["queue_id"] for c in work.not_applicable] == queues["maildrop"]
    assert all(c["reason"] == "hold does not act on mail in maildrop" for c in work.not_applicable)


def test_release_acts_on_hold_only(queue):
    work = _worklist.work_list("release", queue, NOW)
    assert work.by_queue == {("hold",): by_queue(queue)["hold"]}
    assert len(work.vanished) == 14 and work.not_applicable == []


def test_delete_acts_everywhere(queue):
    work = _worklist.work_list("delete", queue, NOW)
    assert sorted(work.queue_ids) == sorted(m["queue_id"] for m in queue)


def test_unmarked_text_entries_are_restricted_to_their_possible_queues():
    text = _listing.parse_mailq(captures.read("mixed_all_queues_postqueue-p.stdout"), now=NOW)
    hold = _worklist.work_list("hold", text, NOW)
    assert set(hold.by_queue) == {("deferred", "incoming"), ("active",)}
    release = _worklist.work_list("release", text, NOW)
    assert set(release.by_queue) == {("hold",)} and len(release.vanished) == 14
    delete = _worklist.work_list("delete", text, NOW)
    assert set(delete.by_queue) == {("deferred", "incoming", "maildrop"), ("active",), ("hold",)}


def test_expire_skips_what_is_already_expired():
    expired = captures.semantics()["json_held_expired"]["json"]
    work = _worklist.work_list("expire", [expired], NOW)
    assert work.vanished == [expired["queue_id"]] and not work.by_queue
    work = _worklist.work_list("expire_release", [expired], NOW)   # expired but still held: -f releases it
    assert work.by_queue == {("hold",): [expired["queue_id"]]}


def test_release_of_long_held_mail(queue):
    held = [m for m in queue if m["queue_name"] == "hold"]
    lifetimes = {"maximal_queue_lifetime": 5 * 86400, "bounce_queue_lifetime": 5 * 86400}
    later = NOW + 6 * 86400
    work = _worklist.work_list("release", held, later, "requeue", lifetimes)
    assert sorted(work.requeued_long_held) == sorted(m["queue_id"] for m in held) and not work.by_queue
    work = _worklist.work_list("release", held, later, "release", lifetimes)
    assert work.requeued_long_held == [] and len(work.by_queue[("hold",)]) == 2
    with pytest.raises(_worklist.ActionError) as error:
        _worklist.work_list("release", held, later, "fail", lifetimes)
    assert "would bounce it at once" in str(error.value)
    assert _worklist.work_list("release", held, NOW, "requeue", lifetimes).requeued_long_held == []


def test_bounces_use_bounce_queue_lifetime(queue):
    bounce = dict([m for m in queue if m["sender"] == "MAILER-DAEMON"][0], queue_name="hold")
    lifetimes = {"maximal_queue_lifetime": 5 * 86400, "bounce_queue_lifetime": 86400}
    assert _worklist.work_list("release", [bounce], NOW + 2 * 86400, "requeue", lifetimes).requeued_long_held == [bounce["queue_id"]]


@pytest.mark.parametrize("value,seconds", [("5d", 432000), ("5", 432000), ("1h", 3600), ("90s", 90), ("2w", 1209600)])
def test_postfix_time(value, seconds):
    assert _worklist.postfix_time(value) == seconds


def test_guards():
    empty = _selection.Selector(now=NOW)
    some = _selection.Selector(sender="a@example.org", now=NOW)
    with pytest.raises(_worklist.ActionError) as error:
        _worklist.check_guards("delete", empty, 5)
    assert "all: true" in str(error.value)
    with pytest.raises(_worklist.ActionError):
        _worklist.check_guards("hold", empty, 5)          # no action on ALL unless asked
    _worklist.check_guards("hold", empty, 5, all_messages=True)
    _worklist.check_guards("delete", some, 5, max_messages=5, expect_count=5)
    with pytest.raises(_worklist.ActionError) as error:
        _worklist.check_guards("delete", some, 6, max_messages=5)
    assert "more than max_messages=5" in str(error.value)
    with pytest.raises(_worklist.ActionError) as error:
        _worklist.check_guards("delete", some, 4, expect_count=5)
    assert "not expect_count=5" in str(error.value)


def test_batches():
    assert _worklist.batches(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert _worklist.batches([], 2) == []
    with pytest.raises(_worklist.ActionError):
        _worklist.batches(["a"], 0)


def test_account_from_real_postsuper_output():
    case = captures.semantics()["hold_stdin_messy"]
    message = {"queue_name": "deferred", "arrival_time": NOW, "forced_expire": False, "sender": "s@example.org",
               "recipients": [], "message_size": 1}
    queue = [dict(message, queue_id=i) for i in ("1B6FA1720E1", "1CD0A1720E4", "0123456789A")]
    work = _worklist.work_list("hold", queue, NOW)
    changed, vanished, pending = _worklist.account(work, [("h", work.queue_ids, parse_postsuper(case["stderr"]))])
    assert changed == ["1B6FA1720E1", "1CD0A1720E4"]
    assert vanished == ["0123456789A"] and pending == []


def test_account_of_a_run_stopped_part_way():
    outcome = parse_postsuper(captures.read("stopped_postsuper-H_4ids_stdin.stderr"))
    message = {"queue_name": "hold", "arrival_time": NOW, "forced_expire": False, "sender": "s@example.org",
               "recipients": [], "message_size": 1}
    ids = ["661AD172006", "661AD172007", "661AD172008", "661AD172009"]
    work = _worklist.work_list("release", [dict(message, queue_id=i) for i in ids], NOW)
    batches = _worklist.batches(work.queue_ids, 2)
    changed, vanished, pending = _worklist.account(work, [("H", batches[0], outcome)], failed=True)
    # postsuper died after the first ID: the second was never looked at, so it is pending, not vanished
    assert changed == ["661AD172006"] and vanished == [] and pending == ids[1:]
    changed, vanished, pending = _worklist.account(work, [("H", batches[0], outcome)])
    assert vanished == ["661AD172007"] and pending == ids[2:]


def test_diff_text(queue):
    work = _worklist.work_list("delete", [queue[0]], NOW)
    assert _worklist.diff_text(work.diff, "before") == "8FB47160045 maildrop\n"
    assert _worklist.diff_text(work.diff, "after") == "8FB47160045 (deleted)\n"


def test_restrict_to_what_was_archived(queue):
    work = _worklist.work_list("delete", queue, NOW)
    everything = work.queue_ids
    kept, gone = everything[:3], everything[3:4]
    work.restrict_to(kept, gone)
    assert sorted(work.queue_ids) == sorted(kept)
    assert work.vanished == gone
    assert all(group for group in work.by_queue.values())     # no empty batch is left to run
