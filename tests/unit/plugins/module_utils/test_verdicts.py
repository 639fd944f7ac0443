# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An incident's verdicts (_verdicts): a queue file read once is not read again for the same selection while the
listing shows the same message - and is read again when anything that could make the verdict wrong differs.

The reader is the module's own (_content.read) running the stand-in postcat of test_postcat_read_ahead, which prints
Postfix 3.7's own ``postcat -q`` capture of each message and logs the IDs it was run with: what was read is what the
log shows.
"""

from __future__ import absolute_import, division, print_function

import json
import os

from ansible_collections.mailops.postfix.plugins.module_utils import _content, _verdicts
from ansible_collections.mailops.postfix.plugins.module_utils._selection import Selector
from ansible_collections.mailops.postfix.tests.unit.plugins.module_utils.test_postcat_read_ahead import stand_in

# The captured messages: all came in by SMTP except 8D9F3160044 (submitted with sendmail, still in maildrop) and
# 623E4160083 (Postfix's own bounce).
LOCAL = "8D9F3160044"
LISTED = [{"queue_id": queue_id, "arrival_time": 1795960000 + n, "message_size": 400 + n}
          for n, queue_id in enumerate(["32D2F160014", "623E4160083", "106AB1600C3", LOCAL, "C125C160007"])]


def reader(cli):
    return lambda messages, tier: _content.read(cli, messages, tier)


def runs(log):
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def judged(verdicts, selector, cli, messages=LISTED, counts=None):
    found = _verdicts.judge(verdicts, [selector], messages, selector.needs, reader(cli), counts)
    return {message["queue_id"]: verdict for message, verdict in found}


def test_a_second_run_takes_the_first_run_s_verdicts_and_reads_nothing(tmp_path):
    cli, log = stand_in(tmp_path)
    path = _verdicts.path_for(str(tmp_path / "state"), "postfix")
    local = Selector(origin="local")
    first_counts, second_counts = {}, {}
    first = _verdicts.Verdicts(path)
    read_first = judged(first, local, cli, counts=first_counts)
    assert read_first == {m["queue_id"]: [m["queue_id"] == LOCAL] for m in LISTED}
    assert first_counts == {"remembered": 0, "read": 5, "gone": 0}
    assert first.save({m["queue_id"] for m in LISTED}) is None
    assert oct(os.stat(path).st_mode & 0o777) == "0o600" and oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    before = runs(log)
    again = judged(_verdicts.Verdicts(path), local, cli, counts=second_counts)
    assert again == read_first
    assert second_counts == {"remembered": 5, "read": 0, "gone": 0}
    assert runs(log) == before, "a remembered message was read again"


def test_a_message_listed_differently_or_another_selection_is_read_again(tmp_path):
    cli, log = stand_in(tmp_path)
    path = _verdicts.path_for(str(tmp_path / "state"), "postfix")
    local = Selector(origin="local")
    verdicts = _verdicts.Verdicts(path)
    judged(verdicts, local, cli)
    verdicts.save({m["queue_id"] for m in LISTED})
    # the same queue ID with another arrival time or size: a reused ID, another queue file - never its verdict
    reused = [dict(LISTED[0], arrival_time=LISTED[0]["arrival_time"] + 60), dict(LISTED[3], message_size=999)] + LISTED[1:3]
    counts = {}
    before = len(runs(log))
    assert judged(_verdicts.Verdicts(path), local, cli, reused, counts) == {
        LISTED[0]["queue_id"]: [False], LOCAL: [True], LISTED[1]["queue_id"]: [False], LISTED[2]["queue_id"]: [False]}
    assert counts == {"remembered": 2, "read": 2, "gone": 0}
    assert sorted(runs(log)[before][-2:]) == sorted([LISTED[0]["queue_id"], LOCAL])
    # another selection (even the same option with another value) has no verdicts yet
    counts = {}
    assert judged(_verdicts.Verdicts(path), Selector(origin="smtp"), cli, counts=counts) == {
        m["queue_id"]: [m["queue_id"] not in (LOCAL, "623E4160083")] for m in LISTED}
    assert counts["read"] == 5


def test_a_message_gone_is_reported_and_not_remembered_and_what_is_no_longer_listed_is_dropped(tmp_path):
    cli, _log = stand_in(tmp_path)
    path = _verdicts.path_for(str(tmp_path / "state"), "postfix")
    local = Selector(origin="local")
    gone = {"queue_id": "0000000DEAD", "arrival_time": 1795960100, "message_size": 500}
    verdicts = _verdicts.Verdicts(path)
    counts = {}
    assert judged(verdicts, local, cli, LISTED + [gone], counts)["0000000DEAD"] is None
    assert counts == {"remembered": 0, "read": 5, "gone": 1}
    verdicts.save({m["queue_id"] for m in LISTED[2:]} | {"0000000DEAD"})
    with open(path) as handle:
        kept = json.load(handle)
    (table,) = kept["selections"].values()
    assert sorted(table) == sorted(m["queue_id"] for m in LISTED[2:])


def test_a_damaged_or_foreign_file_is_ignored_and_an_unwritable_one_is_a_warning(tmp_path):
    cli, _log = stand_in(tmp_path)
    path = _verdicts.path_for(str(tmp_path / "state"), "postfix")
    local = Selector(origin="local")
    os.makedirs(os.path.dirname(path))
    key = _verdicts.selection_key(local)
    lying = {m["queue_id"]: [m["arrival_time"], m["message_size"], True] for m in LISTED}
    for text in ("{not json", json.dumps({"format": 99, "selections": {key: lying}}), json.dumps([1, 2]),
                 json.dumps({"format": _verdicts.FORMAT, "selections": {key: {q: ["x"] for q in lying}}})):
        with open(path, "w") as handle:
            handle.write(text)
        counts = {}
        assert judged(_verdicts.Verdicts(path), local, cli, counts=counts) == {
            m["queue_id"]: [m["queue_id"] == LOCAL] for m in LISTED}
        assert counts["read"] == 5
    blocked = _verdicts.Verdicts(str(tmp_path / "a-file" / "postfix" / _verdicts.FILE))
    (tmp_path / "a-file").write_text(u"not a directory")
    judged(blocked, local, cli)
    warning = blocked.save({m["queue_id"] for m in LISTED})
    assert warning and "could not be kept" in warning and "read those queue files again" in warning


def test_the_key_is_the_content_options_only():
    assert _verdicts.selection_key(Selector(origin="local", queues=["hold"])) == \
        _verdicts.selection_key(Selector(origin="local", sender="a@example.org"))
    assert _verdicts.selection_key(Selector(origin="local")) != _verdicts.selection_key(Selector(origin="smtp"))
    assert _verdicts.selection_key(Selector(sasl_username=["a"])) != _verdicts.selection_key(Selector(sasl_username=["b"]))
