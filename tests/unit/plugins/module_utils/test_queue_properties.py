# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property-based tests: mutated real output never raises anything but the parser's own error."""

from __future__ import absolute_import, division, print_function

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.mailops.postfix.plugins.module_utils import _listing, _queue, _selection, _summary
from ansible_collections.mailops.postfix.plugins.module_utils._listing import QueueParseError
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW
TEXT = [captures.read(n + ".stdout").splitlines() for n in (
    "mixed_all_queues_postqueue-p", "mixed_longids_postqueue-p", "stopped_postqueue-p",
    "multi_b_postqueue-c-p_after")]
JSON = [captures.read(n + ".stdout").splitlines() for n in (
    "mixed_all_queues_postqueue-j", "mixed_longids_postqueue-j", "stopped_postqueue-j")]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutate(draw, lines):
    lines = list(lines)
    for dummy in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "edit", "insert", "truncate"]))
        if kind == "delete":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, lines[index])
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif kind == "edit":
            line = lines[index]
            at = draw(st.integers(0, len(line)))
            cut = draw(st.integers(0, 3))
            lines[index] = line[:at] + draw(st.text(max_size=4)) + line[at + cut:]
        elif kind == "insert":
            lines.insert(index, draw(st.text(max_size=60)))
        else:
            lines = lines[:index]
        if not lines:
            break
    return lines


@st.composite
def mutated_text(draw):
    return _mutate(draw, draw(st.sampled_from(TEXT)))


@st.composite
def mutated_json(draw):
    return _mutate(draw, draw(st.sampled_from(JSON)))


def _check_shape(messages):
    for message in messages:
        assert _queue.is_queue_id(message["queue_id"])
        assert message["queue_name"] in _queue.QUEUE_NAMES + (None,)
        assert isinstance(message["message_size"], int)
        for recipient in message["recipients"]:
            assert recipient["address"] and not recipient["address"][0].isspace()


@SETTINGS
@given(mutated_text())
def test_mutated_text_parses_or_raises_the_parser_error(lines):
    try:
        messages = _listing.parse_mailq(lines, now=NOW)
    except QueueParseError:
        return
    _check_shape(messages)
    _summary.summarize(messages, now=NOW)


@SETTINGS
@given(mutated_json())
def test_mutated_json_parses_or_raises_the_parser_error(lines):
    try:
        messages = _listing.parse_json_lines(lines)
    except QueueParseError:
        return
    _check_shape(messages)
    _summary.summarize(messages, now=NOW)


@SETTINGS
@given(st.lists(st.text(max_size=120), max_size=8))
def test_arbitrary_text_never_crashes_either_parser(lines):
    for parse in (_listing.parse_json_lines, lambda x: _listing.parse_mailq(x, now=NOW)):
        try:
            _check_shape(parse(lines))
        except QueueParseError:
            pass


@SETTINGS
@given(st.text(max_size=30))
def test_selector_options_raise_only_selection_errors(value):
    for name in ("sender_regex", "older_than", "min_size", "sender_domain", "queue_ids", "queues"):
        try:
            _selection.Selector(now=NOW, **{name: value})
        except _selection.SelectionError:
            pass
