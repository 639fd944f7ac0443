# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""When a hold takes whole queues with one `postsuper -h ALL queue...`, and when it names its IDs - on a real
listing of all five queues. ALL must never stand for less than the whole of a queue."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _actions, _worklist
from ansible_collections.mailops.postfix.plugins.module_utils._listing import parse_json_lines
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI
from ansible_collections.mailops.postfix.plugins.module_utils._selection import Selector
from ansible_collections.mailops.postfix.tests.unit import captures

LISTED = parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))
NOW = 1796000000
GUARDS = {"plan": None, "max_messages": None, "expect_count": None}


def _decide(options, exclude=None, guards=None, drop=()):
    counts = {}
    listed = list(_actions._counted(LISTED, counts))
    selector = Selector.from_params(options, NOW)
    selected = [m for m in selector.select(listed) if m["queue_id"] not in drop]
    work = _worklist.work_list("hold", selected, NOW)
    excluded = Selector.from_options(exclude, "exclude", NOW) if exclude else None
    whole = _actions._whole_queues(_worklist.ACTIONS["hold"], selector, excluded, dict(GUARDS, **(guards or {})),
                                   counts, work)
    steps = _actions._steps(PostfixCLI(), _worklist.ACTIONS["hold"], work, 1000, selector, whole, "/var/spool/postfix")
    return whole, steps, work


def test_the_listing_has_mail_in_every_queue_a_hold_takes():
    assert {m["queue_name"] for m in LISTED} >= {"active", "deferred", "hold", "incoming"}


def test_whole_queues_are_one_run_on_all_and_carry_every_listed_id():
    whole, steps, work = _decide({"queues": ["incoming", "active", "deferred"]})
    assert whole == ["active", "deferred", "incoming"]
    assert [step.argv[1:] for step in steps] == [["-h", "ALL", "active", "deferred", "incoming"]]
    assert steps[0].stdin is None and sorted(steps[0].ids) == sorted(work.queue_ids)
    assert sorted(steps[0].ids) == sorted(m["queue_id"] for m in LISTED if m["queue_name"] in ("incoming", "active", "deferred"))


@pytest.mark.parametrize("options, exclude, guards", [
    ({"queues": ["deferred"], "sender": "x@example.org"}, None, None),                # narrower than the queue
    ({"queues": ["deferred"]}, {"sender": "nobody@example.org"}, None),               # an exclude, even one that drops nothing
    ({"queues": ["deferred"]}, None, {"max_messages": 100000}),                       # a count guard
    ({"queues": ["deferred"]}, None, {"expect_count": 3}),
    ({"queues": ["deferred"]}, None, {"plan": {"plan_id": "x"}}),                     # a plan's exact IDs
])
def test_anything_narrower_names_its_ids(options, exclude, guards):
    whole, steps, _work = _decide(options, exclude, guards)
    assert whole == []
    assert all("ALL" not in step.argv and step.stdin for step in steps)


def test_a_queue_not_wholly_on_the_work_list_is_named():
    deferred = [m["queue_id"] for m in LISTED if m["queue_name"] == "deferred"]
    whole, steps, _work = _decide({"queues": ["active", "deferred"]}, drop=deferred[:1])   # e.g. an incident's narrowing
    assert whole == ["active"]
    assert [step.argv[1:] for step in steps] == [["-h", "ALL", "active"], ["-h", "-", "deferred"]]
    assert steps[1].ids == deferred[1:]


def test_only_a_hold_ever_runs_on_all():
    step = PostfixCLI().postsuper_whole_step("d", ["deferred"], ["A"], "/nonexistent")
    with pytest.raises(Exception, match="only a hold takes a whole queue"):
        PostfixCLI().run_step(step)
