# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""When a hold takes whole queues with one `postsuper -h ALL queue...`, and when it names its IDs - on a real
listing of all five queues. ALL must never stand for less than the whole of a queue."""

from __future__ import absolute_import, division, print_function

import os

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


ROOT = os.geteuid() == 0
PLAIN_HOLD = dict(GUARDS, return_plan=False, archive_dir=None, incident=None)


def _reads(options, exclude=None, guards=None):
    selector = Selector.from_params(options, NOW)
    excluded = Selector.from_options(exclude, "exclude", NOW) if exclude else None
    return _actions._reads_directories(_worklist.ACTIONS["hold"], selector, excluded, dict(PLAIN_HOLD, **(guards or {})))


def test_a_hold_of_whole_queues_lists_their_directories_as_root():
    assert _reads({"queues": ["incoming", "active", "deferred"]}) is ROOT
    assert _reads({"queues": ["deferred"]}) is ROOT
    assert _reads({"queues": ["deferred"]}, guards={"incident": {"state_dir": "/x", "junk": None}}) is ROOT
    # an incident's junk is recorded by the hold and counted by the first purge: the hold needs no envelope for it
    assert _reads({"queues": ["deferred"]}, guards={"incident": {"state_dir": "/x", "junk": {"sasl_username": ["x"]}}}) is ROOT


@pytest.mark.parametrize("options, exclude, guards", [
    ({"queues": ["deferred"], "sender": "x@example.org"}, None, None),     # needs the envelope
    ({"queues": ["deferred", "maildrop"]}, None, None),                  # maildrop is held by ID
    ({"all": True}, None, None),                                         # all queues, maildrop too
    ({"queues": ["deferred"]}, {"sender": "nobody@example.org"}, None),  # an exclude
    ({"queues": ["deferred"]}, None, {"max_messages": 100000}),          # a count guard
    ({"queues": ["deferred"]}, None, {"plan": {"plan_id": "x"}}),        # a plan's exact IDs
    ({"queues": ["deferred"]}, None, {"return_plan": True}),             # a plan shows envelopes
])
def test_anything_that_needs_more_than_queue_and_id_lists_with_postqueue(options, exclude, guards):
    assert _reads(options, exclude, guards) is False


def _queue_file(root, queue, queue_id, mode=0o700, hashed=True):
    folder = os.path.join(root, queue, queue_id[0]) if hashed else os.path.join(root, queue)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, queue_id)
    with open(path, "wb") as handle:
        handle.write(b"C                                        ")
    os.chmod(path, mode)
    return path


def test_the_directories_list_what_postfix_would_list(tmp_path):
    """Each queue file, hashed or not, as showq and postsuper see them (mail_open_ok): a file cleanup is still writing
    (no owner execute bit), a name that is not a queue ID, and anything not a regular file are passed over."""
    ids = {m["queue_id"]: m["queue_name"] for m in LISTED}
    for queue_id, queue in ids.items():
        _queue_file(str(tmp_path), queue, queue_id, hashed=queue != "incoming")
    ids = {queue_id: queue for queue_id, queue in ids.items() if queue != "maildrop"}     # not asked for
    _queue_file(str(tmp_path), "incoming", "4DB5E1A0FF3", mode=0o600)            # still being written
    _queue_file(str(tmp_path), "deferred", "not-a-queue-id")
    os.symlink("/etc/passwd", os.path.join(str(tmp_path), "deferred", "5EC6F2B10A4"))
    os.mkdir(os.path.join(str(tmp_path), "deferred", "6FD7A3C21B5"))
    listed = list(PostfixCLI.list_on_disk(str(tmp_path), ["incoming", "active", "deferred", "hold"]))
    assert sorted((m["queue_id"], m["queue_name"]) for m in listed) == sorted(ids.items())
    assert all(m["arrival_time"] is None and m["sender"] is None and m["recipients"] == [] for m in listed)


def test_a_hold_from_the_directories_takes_the_same_whole_queues_as_from_the_listing(tmp_path):
    for message in LISTED:
        _queue_file(str(tmp_path), message["queue_name"], message["queue_id"])
    selector = Selector.from_params({"queues": ["incoming", "active", "deferred"]}, NOW)
    counts = {}
    on_disk = list(_actions._counted(PostfixCLI.list_on_disk(str(tmp_path), ["incoming", "active", "deferred", "hold"]),
                                     counts))
    work = _worklist.work_list("hold", list(selector.select(on_disk)), NOW)
    whole = _actions._whole_queues(_worklist.ACTIONS["hold"], selector, None, GUARDS, counts, work)
    steps = _actions._steps(PostfixCLI(), _worklist.ACTIONS["hold"], work, 1000, selector, whole, str(tmp_path))
    listed_whole, listed_steps, _work = _decide({"queues": ["incoming", "active", "deferred"]})
    assert whole == listed_whole
    assert [step.argv for step in steps] == [step.argv for step in listed_steps]
    assert sorted(steps[0].ids) == sorted(listed_steps[0].ids)
