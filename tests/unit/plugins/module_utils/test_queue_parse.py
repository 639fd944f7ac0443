# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The parsers on every real capture of a listing (Postfix 3.7.11)."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _listing, _queue
from ansible_collections.mailops.postfix.plugins.module_utils._listing import QueueParseError
from ansible_collections.mailops.postfix.tests.unit import captures


def _rc(name):
    path = os.path.join(captures.FIXTURES, name + ".rc")
    return captures.read(name + ".rc").strip() if os.path.exists(path) else None


# empty_mailq.stdout ends with an "rc=0" line that the capture script appended
# (it has no .rc file): it is tested on its own below.
TEXT_LISTINGS = [n for n in captures.names(".stdout")
                 if ("postqueue-p" in n or "mailq" in n) and _rc(n) == "0" and n != "empty_mailq"]
JSON_LISTINGS = [n for n in captures.names(".stdout")
                 if "postqueue-j" in n and "postqueue-c-j" not in n and _rc(n) == "0"]
JSON_LISTINGS += ["multi_b_postqueue-c-j"]


def text(name, now=captures.CAPTURE_NOW):
    return _listing.parse_mailq(captures.read(name + ".stdout"), now=now)


def jsonl(name):
    return _listing.parse_json_lines(captures.read(name + ".stdout"))


def by_id(messages):
    return dict((m["queue_id"], m) for m in messages)


def test_every_successful_text_capture_parses():
    assert len(TEXT_LISTINGS) >= 12
    for name in TEXT_LISTINGS:
        raw = captures.read(name + ".stdout")
        messages = text(name)
        if raw.startswith("Mail queue is empty"):
            assert messages == []
        else:
            # the footer's request count was checked by the parser; check it again here
            assert raw.rstrip().endswith("in %d Request%s." % (len(messages), "" if len(messages) == 1 else "s"))


def test_every_successful_json_capture_parses():
    assert len(JSON_LISTINGS) >= 8
    for name in JSON_LISTINGS:
        raw = captures.read(name + ".stdout")
        messages = jsonl(name)
        assert len(messages) == len(raw.splitlines())
        assert all(m["queue_name"] in _queue.QUEUE_NAMES for m in messages)


@pytest.mark.parametrize("name", captures.PAIRED_LISTINGS)
def test_text_and_json_of_one_queue_agree(name):
    """-p and -j give the same messages, except the queue of unmarked text entries."""
    from_text = text(name + "_postqueue-p")
    from_json = jsonl(name + "_postqueue-j")
    assert [m["queue_id"] for m in from_text] == [m["queue_id"] for m in from_json]
    for t, j in zip(from_text, from_json):
        if t["queue_name"] is None:
            assert j["queue_name"] in _queue.UNMARKED_QUEUES
            t = dict(t, queue_name=j["queue_name"])
        assert t == j


def test_empty_queue():
    assert text("empty_postqueue-p") == []
    # the capture script's own "rc=0" line after the listing is refused, not skipped
    raw = captures.read("empty_mailq.stdout")
    assert raw.splitlines() == ["Mail queue is empty", "rc=0"]
    assert _listing.parse_mailq(raw.splitlines()[:1]) == []
    with pytest.raises(QueueParseError) as error:
        _listing.parse_mailq(raw)
    assert error.value.line_number == 2
    assert jsonl("empty_postqueue-j") == []
    assert captures.read("empty_postqueue-j.stdout") == ""


def test_markers_give_active_and_hold():
    messages = by_id(text("mixed_all_queues_postqueue-p"))
    assert messages["85C97160036"]["queue_name"] == "active"
    assert messages["536DD1601EC"]["queue_name"] == "hold"
    assert messages["52C091601EB"]["queue_name"] == "hold"
    unmarked = [m for m in messages.values() if m["queue_name"] is None]
    assert len(unmarked) == 13


def test_forced_expire_marker():
    case = captures.semantics()["postqueue_p_after_expire"]
    (message,) = _listing.parse_mailq(case["stdout"], now=captures.CAPTURE_NOW)
    expected = captures.semantics()["json_after_expire"]["json"]
    assert message["forced_expire"] is True
    assert message == dict(expected, queue_name=None)


@pytest.mark.parametrize("marks,queue,expired", [("!#", "hold", True), ("*#", "active", True),
                                                 ("!", "hold", False), ("", None, False)])
def test_combined_markers(marks, queue, expired):
    raw = captures.semantics()["postqueue_p_after_expire"]["stdout"].replace("6EF63172054#", "6EF63172054" + marks)
    (message,) = _listing.parse_mailq(raw, now=captures.CAPTURE_NOW)
    assert (message["queue_name"], message["forced_expire"]) == (queue, expired)


@pytest.mark.parametrize("marks", ["!*", "##", "#!", "**", "?"])
def test_impossible_markers_fail_closed(marks):
    raw = captures.semantics()["postqueue_p_after_expire"]["stdout"].replace("6EF63172054#", "6EF63172054" + marks)
    with pytest.raises(QueueParseError) as error:
        _listing.parse_mailq(raw, now=captures.CAPTURE_NOW)
    assert error.value.line_number == 2


def test_reason_lines_apply_to_the_recipients_that_follow():
    message = by_id(text("mixed_all_queues_postqueue-p"))["32D2F160014"]
    reasons = [(r["address"], r["delay_reason"][:20]) for r in message["recipients"]]
    assert reasons == [
        ("r5@example.com", "connect to 127.0.0.1"),
        ("r1@example.net", "connect to 127.0.0.1"),
        ("r2@softfail.example", "host 127.0.0.1[127.0"),   # reason printed at column 0
        ("r3@refuse.example", "host 127.0.0.1[127.0"),
    ]
    assert message["recipients"][2]["delay_reason"].endswith("(in reply to RCPT TO command)")


def test_recipients_without_reason_in_hold_and_active():
    messages = by_id(text("mixed_all_queues_postqueue-p"))
    for queue_id in ("85C97160036", "536DD1601EC"):
        assert all("delay_reason" not in r for r in messages[queue_id]["recipients"])


def test_reason_unavailable_clears_the_reason():
    raw = ("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
           "6EF63172054     308 Sun Nov 29 13:49:18  sender@example.org\n"
           "                       (connect to 127.0.0.1[127.0.0.1]:2: Connection refused)\n"
           "                                         r@example.net\n"
           "                                                       (reason unavailable)\n"
           "                                         s@example.net\n"
           "\n-- 0 Kbytes in 1 Request.\n")
    (message,) = _listing.parse_mailq(raw, now=captures.CAPTURE_NOW)
    assert message["recipients"][0]["delay_reason"].startswith("connect to")
    assert message["recipients"][1] == {"address": "s@example.net"}


def test_mailer_daemon_fifty_recipients_quoted_and_utf8():
    messages = by_id(text("mixed_all_queues_postqueue-p"))
    assert messages["623E4160083"]["sender"] == "MAILER-DAEMON"
    assert messages["8FB47160045"]["sender"] == "MAILER-DAEMON"
    assert len(messages["9C4C41601EE"]["recipients"]) == 50
    addresses = [r["address"] for r in messages["30F831600D4"]["recipients"]]
    assert '"john doe"@example.net' in addresses
    assert '"a@b"@example.net' in addresses
    assert '"back\\\\slash"@example.net' in addresses
    assert '"quoted\\"dq"@example.net' in addresses
    utf8 = messages["106AB1600C3"]
    assert utf8["sender"] == u"jos\u00e9@ex\u00e4mple.org"
    assert [_queue.domain_of(r["address"]) for r in utf8["recipients"]] == [
        "example.net", u"\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", u"\u4f8b\u5b50.\u4e2d\u56fd"]


def test_overflowing_size_column():
    line = [ln for ln in captures.read("mixed_all_queues_postqueue-p.stdout").splitlines() if ln.startswith("74D3E1601ED")]
    assert line == ["74D3E1601ED 2102430 Sun Nov 29 13:37:59  big-sender@example.org"]
    assert by_id(text("mixed_all_queues_postqueue-p"))["74D3E1601ED"]["message_size"] == 2102430


def test_long_ids_and_wide_header():
    messages = text("mixed_longids_postqueue-p")
    long_ids = [m["queue_id"] for m in messages if "z" in m["queue_id"] and not m["queue_id"].isupper()]
    assert len(long_ids) >= 8 and len(messages) == 27
    assert by_id(messages)["4jcpDq3KqyzBrJs"]["queue_name"] == "active"


def test_long_local_part_and_twenty_label_domain():
    message = by_id(text("mixed_all_queues_postqueue-p"))["E43951600B4"]
    assert len(message["sender"].split("@")[0]) > 200
    assert _queue.domain_of(message["recipients"][1]["address"]).count(".") == 22


def test_arrival_time_from_asctime_without_year():
    from_text = by_id(text("mixed_all_queues_postqueue-p"))
    from_json = by_id(jsonl("mixed_all_queues_postqueue-j"))
    assert all(from_text[i]["arrival_time"] == from_json[i]["arrival_time"] for i in from_json)
    # a year later the same listing reads as last year's mail, not next year's
    a_year_later = captures.CAPTURE_NOW + 365 * 86400
    later = by_id(text("mixed_all_queues_postqueue-p", now=a_year_later))
    assert later["767F0160023"]["arrival_time"] == from_json["767F0160023"]["arrival_time"]


def test_space_padded_day_and_unknown_time():
    raw = ("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
           "6EF63172054     308 Sun Sep  6 13:49:18  sender@example.org\n"
           "                                         r@example.net\n"
           "\n"
           "6EF63172055     308                   ??  sender@example.org\n"
           "                                         r@example.net\n"
           "\n-- 0 Kbytes in 2 Requests.\n")
    first, second = _listing.parse_mailq(raw, now=captures.CAPTURE_NOW)
    assert first["arrival_time"] == 1788702558  # Sun 2026-09-06 13:49:18 UTC
    assert second["arrival_time"] is None


def test_postfix2_layout_with_detached_marker_and_unreadable_maildrop():
    # Postfix 2.x: "%-10s%c%8ld %20.20s %s" and the maildrop line of showq.c
    raw = ("-Queue ID- --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
           "C4A3F2E6D*     1234 Sun Nov 29 13:49:18 sender@example.org\n"
           "                                         r@example.net\n"
           "\n"
           "B1A0C3D4E1      567 Sun Nov 29 13:49:18 (maildrop queue, sender UID 1000)\n"
           "\n-- 1 Kbytes in 2 Requests.\n")
    first, second = _listing.parse_mailq(raw, now=captures.CAPTURE_NOW)
    assert (first["queue_id"], first["queue_name"]) == ("C4A3F2E6D", "active")
    assert (second["queue_name"], second["sender"], second["recipients"]) == ("maildrop", None, [])


def test_stopped_postfix_listing_still_parses():
    assert len(text("stopped_postqueue-p")) == 5
    assert len(jsonl("stopped_postqueue-j")) == 5
    assert text("stopped_mailq") == text("stopped_postqueue-p")


@pytest.mark.parametrize("mutate,line_number", [
    (lambda lines: lines[:-1], None),                                   # footer missing: truncated
    (lambda lines: lines[:-1] + ["-- 0 Kbytes in 3 Requests."], 6),    # footer count differs
    (lambda lines: lines + ["trailing"], 7),                            # text after the footer
    (lambda lines: ["garbage"] + lines, 1),                             # no header
    (lambda lines: lines[:2] + ["   r@example.net"] + lines[2:], 3),    # recipient at a wrong column
    (lambda lines: lines[:3] + lines[4:], 4),                           # a reason without recipient
    (lambda lines: lines[:3] + lines[2:], 4),                           # two reasons in a row
    (lambda lines: lines[:4] + [""] + lines[4:], 6),                    # two blank lines
    (lambda lines: [lines[0], lines[1].replace("Sun Nov", "Xyz Nov")] + lines[2:], 2),
    (lambda lines: [lines[0], lines[1].replace("Sun Nov 29", "Sun Feb 30")] + lines[2:], 2),
    (lambda lines: [lines[0], lines[1].replace("6EF63172054", "6ef63172054")] + lines[2:], 2),
    (lambda lines: [lines[0], lines[1].replace("13:49:18", "25:49:18")] + lines[2:], 2),
])
def test_text_parser_fails_closed(mutate, line_number):
    lines = captures.semantics()["postqueue_p_after_expire"]["stdout"].splitlines()
    with pytest.raises(QueueParseError) as error:
        _listing.parse_mailq(mutate(lines), now=captures.CAPTURE_NOW)
    assert error.value.line_number == line_number
    if line_number is not None:
        assert "line %d" % line_number in str(error.value)


def test_text_parser_rejects_empty_output():
    with pytest.raises(QueueParseError):
        _listing.parse_mailq("")


@pytest.mark.parametrize("mutate", [
    lambda o: "not json",
    lambda o: json.dumps([o]),
    lambda o: json.dumps(dict(o, queue_name="bogus")),
    lambda o: json.dumps(dict(o, queue_id="6ef63172054")),
    lambda o: json.dumps(dict(o, queue_id="../etc")),
    lambda o: json.dumps(dict(o, arrival_time="1795960158")),
    lambda o: json.dumps(dict(o, message_size=-1)),
    lambda o: json.dumps(dict(o, forced_expire="yes")),
    lambda o: json.dumps(dict(o, sender=None)),
    lambda o: json.dumps(dict(o, recipients=[{"address": 1}])),
    lambda o: json.dumps(dict(o, recipients=[{"address": "a@b", "delay_reason": 5}])),
    lambda o: "",
])
def test_json_parser_fails_closed(mutate):
    good = captures.semantics()["json_after_expire"]["json"]
    lines = [json.dumps(good), mutate(good)]
    with pytest.raises(QueueParseError) as error:
        _listing.parse_json_lines(lines)
    assert error.value.line_number == 2


def test_json_ignores_unknown_members_and_keeps_311_recipient_fields():
    good = dict(captures.semantics()["json_after_expire"]["json"])
    good["future_member"] = {"x": 1}
    good["recipients"] = [dict(good["recipients"][0], orig_address="alias@example.net",
                               bounce_reason="550 no", future=1)]
    (message,) = _listing.parse_json_lines([json.dumps(good)])
    assert "future_member" not in message
    assert message["recipients"][0] == {
        "address": "r@example.net", "orig_address": "alias@example.net", "bounce_reason": "550 no",
        "delay_reason": "connect to 127.0.0.1[127.0.0.1]:2: Connection refused"}


def test_json_before_35_has_no_forced_expire():
    good = dict(captures.semantics()["json_after_expire"]["json"])
    del good["forced_expire"]
    (message,) = _listing.parse_json_lines([json.dumps(good)])
    assert message["forced_expire"] is False


def test_unique_messages_keeps_the_first_listing():
    messages = jsonl("mixed_all_queues_postqueue-j")
    moved = dict(messages[5], queue_name="hold")
    stats = {}
    unique = list(_queue.unique_messages(messages + [moved], stats))
    assert unique == messages and stats == {"duplicates": 1}
    # a reused short ID with another arrival time is another message
    reused = dict(messages[5], arrival_time=messages[5]["arrival_time"] + 1)
    assert len(list(_queue.unique_messages(messages + [reused]))) == len(messages) + 1


@pytest.mark.parametrize("value,ok", [
    ("8FB47160045", True), ("4jcpDy3x83zBrJw", True), ("C4A3F2E6D", True),
    ("4jzzzzzzzzzBrJz", False),  # the inode part cannot contain 'z'
    ("8fb47160045", False), ("ALL", False), ("all", False), ("", False), ("ABC-123", False),
    ("459E7172072*", False), ("../../etc", False), ("AB CD", False), ("4jcpDy3x83zBrJw\n", False),
    ("4jcpDy3x83aBrJw", False),  # vowels are not in the alphabet
    (None, False), (12345678, False),
])
def test_queue_id_syntax(value, ok):
    assert _queue.is_queue_id(value) is ok


def test_every_id_in_the_captures_is_valid():
    for name in JSON_LISTINGS:
        assert all(_queue.is_queue_id(m["queue_id"]) for m in jsonl(name))


def test_fixture_directory_is_complete():
    assert os.path.exists(os.path.join(captures.FIXTURES, "INDEX.md"))
