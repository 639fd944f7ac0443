# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""inspect_max: "who is sending" from an even sample of a large selection - a real listing, real queue files."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _postcat
from ansible_collections.mailops.postfix.plugins.module_utils._listing import parse_json_lines
from ansible_collections.mailops.postfix.plugins.module_utils._selection import SelectionError, Selector
from ansible_collections.mailops.postfix.plugins.module_utils._summary import collect, even_sample
from ansible_collections.mailops.postfix.plugins.plugin_utils._report import merge_origins, origins_read
from ansible_collections.mailops.postfix.tests.unit import captures

LISTED = parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))
# a real queue file (postcat -e of a deferred message received over SMTP)
SMTP = _postcat.queue_file(_postcat.split(captures.read("postcat-eq_deferred_multi.stdout").encode("utf-8"),
                                          ["32D2F160014"])["32D2F160014"])


class Reader:
    """Stands in for postcat over the lab's queue: each message's queue file is the real one above."""

    def __init__(self):
        self.asked = []

    def __call__(self, messages, tier):
        for message in messages:
            self.asked.append(message["queue_id"])
            yield message, SMTP


def test_even_sample():
    assert even_sample(10, 0) == set(range(10)) and even_sample(10, 10) == set(range(10))
    assert even_sample(10, 3) == {0, 3, 6} and len(even_sample(101000, 10000)) == 10000
    assert even_sample(0, 5) == set()


def test_a_large_selection_is_described_by_an_even_sample():
    selector = Selector.from_params({"queues": ["deferred", "hold", "active", "incoming"]})
    selected = [m["queue_id"] for m in LISTED if m["queue_name"] in ("deferred", "hold", "active", "incoming")]
    assert len(selected) > 8
    reader = Reader()
    result = collect(LISTED, selector, limit=5, read=reader, inspect="origin", inspect_max=4)
    origins = result["origins"]
    assert origins["read"] == 4 and origins["sampled_from"] == len(selected)
    assert reader.asked == [selected[i] for i in sorted(even_sample(len(selected), 4))]
    assert result["content"]["read"] == 4
    assert sum(row["messages"] for row in origins["origins"]) == 4           # the sample's counts, not scaled
    assert result["summary"]["total"] == len(selected)                         # the summary is of every message
    assert [m["queue_id"] for m in result["messages"]] == selected[:5]        # so is the message list
    assert "sample of %d" % len(selected) in origins_read(origins)


def test_a_selection_within_the_bound_is_read_whole():
    reader = Reader()
    result = collect(LISTED, Selector.from_params({"queues": ["deferred"]}), limit=0, read=reader, inspect="origin",
                     inspect_max=1000)
    deferred = [m["queue_id"] for m in LISTED if m["queue_name"] == "deferred"]
    assert result["origins"]["read"] == len(deferred) and "sampled_from" not in result["origins"]
    assert reader.asked == deferred and "sample" not in origins_read(result["origins"])


def test_a_selection_that_reads_queue_files_anyway_is_described_whole():
    reader = Reader()
    selector = Selector.from_params({"origin": "smtp"})
    result = collect(LISTED, selector, limit=0, read=reader, inspect="origin", inspect_max=2)
    assert result["origins"]["read"] == len(LISTED) - result["duplicates"] and "sampled_from" not in result["origins"]


def test_the_fleet_says_it_was_sampled_when_one_host_was():
    whole = {"read": 50, "origins": [{"origin": "smtp", "messages": 50, "bytes": 1}]}
    sampled = {"read": 100, "sampled_from": 1000, "origins": [{"origin": "smtp", "messages": 100, "bytes": 1}]}
    assert merge_origins([whole, sampled])["sampled_from"] == 1050
    assert "sampled_from" not in merge_origins([whole, whole])


def test_a_negative_bound_is_refused():
    with pytest.raises(SelectionError, match="inspect_max"):
        collect(LISTED, Selector.from_params({}), limit=0, read=Reader(), inspect="origin", inspect_max=-1)


def test_the_report_says_once_that_it_sampled():
    from ansible_collections.mailops.postfix.plugins.plugin_utils import _report, _report_html
    sampled = {"read": 100, "sampled_from": 1000, "origins": [{"origin": "smtp", "messages": 100, "bytes": 1}]}
    sentence = origins_read(sampled)
    assert _report._origins_section(sampled)[0] == sentence[:1].upper() + sentence[1:] + "."
    assert _report_html._origin_tables(sampled, "h01").count("an even sample of 1000 messages") == 1
    assert "an even sample" not in _report_html._origin_tables(sampled, "fleet", say_sample=False)
    assert "an even sample" not in _report_html._origin_tables(dict(sampled, sampled_from=None), "h01")
