# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""When a hold takes whole queues with one `postsuper -h ALL queue...`, and when it names its IDs - on a real
listing of all five queues. ALL must never stand for less than the whole of a queue."""

from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _actions, _queue, _worklist
from ansible_collections.mailops.postfix.plugins.module_utils._listing import parse_json_lines
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import WHOLE_RUNS, PostfixCLI, queue_ids_on_disk
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
    in incoming (no owner execute bit), a name that is not a queue ID, and anything not a regular file are passed
    over. Outside incoming a queue file arrived by a rename once complete: its mode is not read."""
    ids = {m["queue_id"]: m["queue_name"] for m in LISTED}
    for queue_id, queue in ids.items():
        _queue_file(str(tmp_path), queue, queue_id, hashed=queue != "incoming")
    ids = {queue_id: queue for queue_id, queue in ids.items() if queue != "maildrop"}     # not asked for
    _queue_file(str(tmp_path), "incoming", "4DB5E1A0FF3", mode=0o600)            # still being written
    _queue_file(str(tmp_path), "deferred", "not-a-queue-id")
    os.symlink("/etc/passwd", os.path.join(str(tmp_path), "deferred", "5EC6F2B10A4"))
    os.mkdir(os.path.join(str(tmp_path), "deferred", "6FD7A3C21B5"))
    os.symlink("/etc/passwd", os.path.join(str(tmp_path), "incoming", "70E8B4D32C6"))
    _queue_file(str(tmp_path), "deferred", "81F9C5E43D7", mode=0o600)             # not cleanup's: its mode is not read
    ids["81F9C5E43D7"] = "deferred"
    listed = list(PostfixCLI.list_on_disk(str(tmp_path), ["incoming", "active", "deferred", "hold"]))
    assert sorted((m["queue_id"], m["queue_name"]) for m in listed) == sorted(ids.items())
    assert all(m["arrival_time"] is None and m["sender"] is None and m["recipients"] == () for m in listed)
    # compact as listed: the selection keeps each as it is, with no copy made of 100,000 of them
    assert all(_queue.compact(m) is m for m in listed)


def test_every_reading_of_a_queue_directory_takes_the_same_queue_files(tmp_path):
    """The hold directory read for the proof and the window (queue IDs), the in-flight count of the back-pressure and
    the listing all take a queue's regular files only - hashed or not; a symbolic link (to a file or to a directory) and
    a directory named as a queue ID are not queue files. The count takes an incoming file still being written (it is in
    flight); the listing does not (postsuper and showq pass over it)."""
    root = str(tmp_path)
    for queue in ("hold", "active", "incoming"):
        _queue_file(root, queue, "3E5A3160721", hashed=True)
        _queue_file(root, queue, "4jf2qb2Yd6zBs3G", hashed=False)
        os.symlink("/etc/passwd", os.path.join(root, queue, "5EC6F2B10A4"))
        os.symlink(root, os.path.join(root, queue, "6FD7A3C21B5"))
        os.mkdir(os.path.join(root, queue, "70E8B4D32C6"))
    _queue_file(root, "incoming", "81F9C5E43D7", mode=0o600)         # still being written
    _queue_file(root, "hold", "not-a-queue-id")
    assert queue_ids_on_disk(root, "hold") == ["3E5A3160721", "4jf2qb2Yd6zBs3G"]
    assert queue_ids_on_disk(root, "deferred") == []                 # no such directory
    assert PostfixCLI.count_in_flight(root) == 2 + 3
    listed = PostfixCLI.list_on_disk(root, ["incoming", "active", "hold"])
    assert sorted((m["queue_name"], m["queue_id"]) for m in listed) == sorted(
        (queue, queue_id) for queue in ("incoming", "active", "hold") for queue_id in ("3E5A3160721", "4jf2qb2Yd6zBs3G"))


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


# A stand-in for postsuper -h ALL QUEUE...: moves each named queue's files into hold, as postsuper does - except, on
# its first RUNS runs, the IDs it is told to pass over, which it leaves where they are: what the real postsuper does
# to a message the queue manager renames from a directory it has not read yet into one it has (deferred into active,
# and back). That race can not be made to happen on demand with the real postsuper and qmgr; the 100,000-message
# incident bench met it (docs/performance.md).
STAND_IN_POSTSUPER = u"""#!%(python)s
import os, sys
root, log, runs, passed_over = %(root)r, %(log)r, %(runs)d, %(passed_over)r
queues = sys.argv[sys.argv.index("ALL") + 1:]
earlier = len(open(log).read().splitlines()) if os.path.exists(log) else 0
with open(log, "a") as handle:
    handle.write(" ".join(queues) + "\\n")
skip = set(passed_over) if earlier < runs else set()
held = 0
for queue in queues:
    for folder, _dirs, files in os.walk(os.path.join(root, queue)):
        for name in files:
            if name not in skip:
                os.rename(os.path.join(folder, name), os.path.join(root, "hold", name))
                held += 1
sys.stderr.write("postsuper: Placed on hold: %%d message%%s\\n" %% (held, "" if held == 1 else "s"))
"""


def _spool(tmp_path, queues=("incoming", "active", "deferred")):
    spool = str(tmp_path / "spool")
    os.makedirs(os.path.join(spool, "hold"))
    listed = [m for m in LISTED if m["queue_name"] in queues]
    for message in listed:
        _queue_file(spool, message["queue_name"], message["queue_id"])
    return spool, listed


def _stand_in_postsuper(tmp_path, passed_over, runs=1):
    script, log = tmp_path / "postsuper", tmp_path / "runs.log"
    script.write_text(STAND_IN_POSTSUPER % {"python": sys.executable, "root": str(tmp_path / "spool"), "log": str(log),
                                            "runs": runs, "passed_over": list(passed_over)})
    script.chmod(0o700)
    return PostfixCLI(tool_paths={"postsuper": str(script)}), log


@pytest.mark.parametrize("passed_over", [[], ["deferred"], ["deferred", "active"]])
def test_a_whole_queue_hold_runs_again_for_what_postsuper_passed_over(tmp_path, passed_over):
    """What the first `postsuper -h ALL` passed over and is still in those queues is held by running it again; every
    listed ID ends on hold and is proved, and the totals add up."""
    spool, listed = _spool(tmp_path)
    cli, log = _stand_in_postsuper(tmp_path, [m["queue_id"] for m in listed if m["queue_name"] in passed_over])
    ids = [m["queue_id"] for m in listed]
    rc, outcome = cli.run_step(cli.postsuper_whole_step("h", ["active", "deferred", "incoming"], ids, spool))
    assert rc == 0 and sorted(outcome.changed["h"]) == sorted(ids) and outcome.consistent
    assert outcome.totals["h"] == len(ids)
    assert len(log.read_text().splitlines()) == (2 if passed_over else 1)
    assert sorted(os.listdir(os.path.join(spool, "hold"))) == sorted(ids)


def test_a_message_passed_over_every_time_is_not_proved_and_the_runs_stop(tmp_path):
    """A message still passed over after WHOLE_RUNS runs is not counted as held (the hold reports it; an incident's
    verify finds it outside hold): the runs stop, they never loop."""
    spool, listed = _spool(tmp_path, ("deferred",))
    stuck = listed[0]["queue_id"]
    cli, log = _stand_in_postsuper(tmp_path, [stuck], runs=100)
    ids = [m["queue_id"] for m in listed]
    rc, outcome = cli.run_step(cli.postsuper_whole_step("h", ["deferred"], ids, spool))
    assert rc == 0 and sorted(outcome.changed["h"]) == sorted(ids[1:]) and outcome.consistent
    assert len(log.read_text().splitlines()) == WHOLE_RUNS
