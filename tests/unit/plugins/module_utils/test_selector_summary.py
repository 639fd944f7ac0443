# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Selector and the summary on the real mixed-queue capture."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _listing, _queue, _summary, _values
from ansible_collections.mailops.postfix.plugins.module_utils._selection import Selector, SelectionError
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW


@pytest.fixture(scope="module")
def queue():
    return _listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))


def ids(queue, **options):
    options.setdefault("now", NOW)
    return sorted(m["queue_id"] for m in Selector(**options).select(queue))


def test_no_filter_selects_everything(queue):
    selector = Selector(now=NOW)
    assert selector.is_empty
    assert len(list(selector.select(queue))) == 16


def test_queue_ids_and_queues(queue):
    assert ids(queue, queue_ids=["767F0160023", "0123456789A"]) == ["767F0160023"]
    assert ids(queue, queues=["hold"]) == ["52C091601EB", "536DD1601EC"]
    assert ids(queue, queues=["maildrop", "active"]) == ["85C97160036", "8D9F3160044", "8FB47160045"]
    assert not Selector(queues="hold", now=NOW).is_empty


def test_unknown_text_queue_matches_the_queues_it_may_be():
    text = _listing.parse_mailq(captures.read("mixed_all_queues_postqueue-p.stdout"), now=NOW)
    assert len(ids(text, queues=["deferred"])) == 13          # 9 deferred + 2 incoming + 2 maildrop
    assert ids(text, queues=["hold"]) == ["52C091601EB", "536DD1601EC"]
    assert ids(text, queues=["active"]) == ["85C97160036"]


def test_sender_is_case_insensitive_and_exact(queue):
    assert ids(queue, sender="ALICE@example.ORG") == ["767F0160023"]
    assert ids(queue, sender="alice@example.or") == []
    assert ids(queue, sender=["MAILER-DAEMON"]) == ["623E4160083", "8FB47160045", "C1CF4160008"]


def test_domains_are_anchored(queue):
    assert len(ids(queue, sender_domain="EXAMPLE.org")) == 12
    assert ids(queue, sender_domain="ample.org") == []
    assert ids(queue, recipient_domain="slow.example") == ["85C97160036"]
    assert ids(queue, recipient_domain="example") == []
    assert ids(queue, recipient_domain=".example") == ["32D2F160014", "536DD1601EC", "85C97160036"]
    assert ids(queue, recipient_domain=u"\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444") == ["106AB1600C3"]


def test_recipient_match_any_and_all(queue):
    assert ids(queue, recipient_domain="example.net", recipient_match="all") == [
        "12957160006", "30F831600D4", "623E4160083", "74D3E1601ED", "767F0160023", "8FB47160045",
        "9C4C41601EE", "C1CF4160008"]
    assert "32D2F160014" in ids(queue, recipient_domain="example.net")
    assert "32D2F160014" not in ids(queue, recipient_domain="example.net", recipient_match="all")


def test_quoted_local_parts(queue):
    assert ids(queue, recipient='"john doe"@example.net') == ["30F831600D4"]
    # the '@' inside quotes is not the domain separator
    assert ids(queue, recipient_domain="b") == []


def test_regexes_full_match_and_ignore_case(queue):
    assert ids(queue, sender_regex="ALICE@.*") == ["767F0160023"]
    assert ids(queue, sender_regex="alice") == []                    # not a search
    assert ids(queue, recipient_regex=r"rcpt0[0-4]\d@example\.net") == ["9C4C41601EE"]
    assert ids(queue, reason_regex=".*refused to talk.*") == ["32D2F160014"]
    assert ids(queue, reason_regex="refused") == []


def test_reason_text_is_matched_only_by_reason_regex(queue):
    # "127.0.0.1" appears in reasons, never in addresses
    assert ids(queue, recipient_regex=r".*127\.0\.0\.1.*") == []
    assert ids(queue, sender_regex=r".*Connection.*") == []


def test_messages_without_reasons_never_match_reason_regex(queue):
    assert set(ids(queue, reason_regex=".*")).isdisjoint(ids(queue, queues=["hold", "active", "maildrop"]))


def test_ages(queue):
    def aged(low, high):
        return sorted(m["queue_id"] for m in queue if low <= NOW - m["arrival_time"] < high)
    # ages in the capture run from 687 s to 773 s
    assert ids(queue, older_than="770s") == ["767F0160023"] == aged(770, 10 ** 6)
    assert ids(queue, older_than=773) == ["767F0160023"]
    assert ids(queue, older_than=774) == []
    assert ids(queue, younger_than="12m") == aged(0, 720)
    assert len(aged(0, 720)) == 6
    assert ids(queue, older_than="1h") == []
    assert ids(queue, older_than="11m50s", younger_than="12m10s") == aged(710, 730)
    assert len(aged(710, 730)) == 9


def test_unknown_arrival_never_matches_an_age_filter():
    message = dict(_listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))[0],
                   arrival_time=None)
    assert not Selector(older_than="0s", now=NOW).matches(message)
    assert not Selector(younger_than="100w", now=NOW).matches(message)


def test_sizes(queue):
    assert ids(queue, min_size="2M") == ["74D3E1601ED"]
    assert ids(queue, min_size="2k", max_size="2048") == []
    assert ids(queue, min_size=2020, max_size=2020) == ["623E4160083"]
    assert len(ids(queue, max_size="1k")) == 14


def test_filters_combine_with_and(queue):
    assert ids(queue, sender_domain="example.org", queues=["hold"], recipient_domain="hold.example") == ["536DD1601EC"]


@pytest.mark.parametrize("options,words", [
    ({"sender_regex": "(unclosed"}, "sender_regex: invalid regular expression"),
    ({"reason_regex": "*"}, "reason_regex: invalid regular expression"),
    ({"older_than": "3 days"}, "older_than: expected a duration"),
    ({"older_than": "-5m"}, "older_than: expected a duration"),
    ({"younger_than": "5x"}, "younger_than: expected a duration"),
    ({"older_than": -5}, "cannot be negative"),
    ({"older_than": True}, "older_than: expected a duration"),
    ({"older_than": u"\u00b2"}, "older_than: expected a duration"),      # found by hypothesis: '²'.isdigit()
    ({"younger_than": u"\u0663m"}, "younger_than: expected a duration"),  # Arabic-Indic digit three
    ({"min_size": u"\u0663k"}, "min_size: expected a size"),
    ({"min_size": "10 MB"}, "min_size: expected a size"),
    ({"max_size": "1.5k"}, "max_size: expected a size"),
    ({"min_size": "2k", "max_size": "1k"}, "larger than max_size"),
    ({"older_than": "2h", "younger_than": "1h"}, "older_than (7200s) must be less than younger_than"),
    ({"queues": ["held"]}, "queues: expected names"),
    ({"queues": []}, "queues: expected names"),
    ({"queue_ids": ["ALL"]}, "queue_ids: not a Postfix queue ID"),
    ({"queue_ids": ["8FB47160045; rm -rf /"]}, "queue_ids: not a Postfix queue ID"),
    ({"queue_ids": []}, "queue_ids: an empty list selects nothing"),
    ({"sender_domain": "user@example.org"}, "sender_domain: not a domain"),
    ({"recipient_domain": ""}, "recipient_domain: not a domain"),
    ({"recipient_match": "most"}, "recipient_match"),
])
def test_bad_options_are_clear_errors(options, words):
    with pytest.raises(SelectionError) as error:
        Selector(**options)
    assert words in str(error.value)


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90), ("30m", 1800), ("2h", 7200), ("3d", 259200), ("1w", 604800), ("1h30m", 5400), ("45", 45), (0, 0),
])
def test_durations(text, seconds):
    assert _values.parse_duration(text) == seconds


@pytest.mark.parametrize("text,size", [("2048", 2048), ("10k", 10240), ("10K", 10240), ("5M", 5242880),
                                       ("1g", 1073741824), (0, 0)])
def test_sizes_parse(text, size):
    assert _values.parse_size(text) == size


def test_summary_of_the_mixed_queue(queue):
    summary = _summary.summarize(queue, now=NOW, top=3)
    assert summary["total"] == 16
    assert summary["bytes"] == sum(m["message_size"] for m in queue)
    assert summary["recipients"] == sum(len(m["recipients"]) for m in queue)
    assert summary["by_queue"] == {
        "maildrop": {"messages": 2, "bytes": 273}, "incoming": {"messages": 2, "bytes": 599},
        "active": {"messages": 1, "bytes": 346}, "deferred": {"messages": 9, "bytes": 2107452},
        "hold": {"messages": 2, "bytes": 694}}
    assert list(summary["by_queue"]) == ["maildrop", "incoming", "active", "deferred", "hold"]
    assert summary["oldest"]["queue_id"] == "767F0160023"
    assert summary["oldest"]["age_seconds"] == NOW - 1795959427
    assert [b["label"] for b in summary["age_buckets"]] == [
        "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+"]
    assert sum(b["messages"] for b in summary["age_buckets"]) == 16
    # ages are 11.2 .. 12.9 minutes: all in the 20 bucket
    assert summary["age_buckets"][2]["messages"] == 16
    assert summary["top_senders"][0] == {"sender": "MAILER-DAEMON", "messages": 3, "bytes": 2460}
    assert summary["top_sender_domains"][0] == {"domain": "example.org", "messages": 12, "bytes": 2106503}
    assert summary["top_sender_domains"][1]["domain"] == "MAILER-DAEMON"
    assert summary["top_recipient_domains"][0] == {"domain": "example.net", "messages": 15, "recipients": 71}
    assert summary["top_reasons"][0] == {
        "reason": "connect to 127.0.0.1[127.0.0.1]:2: Connection refused", "messages": 9, "recipients": 69}
    assert len(summary["top_senders"]) == 3


def test_summary_top_n_and_empty_queue(queue):
    assert len(_summary.summarize(queue, now=NOW, top=50)["top_senders"]) == 14
    empty = _summary.summarize([], now=NOW)
    assert empty["total"] == 0 and empty["oldest"] is None and empty["by_queue"] == {}
    with pytest.raises(SelectionError):
        _summary.summarize(queue, top=0)


def test_summary_of_text_counts_unknown_queue():
    text = _listing.parse_mailq(captures.read("mixed_all_queues_postqueue-p.stdout"), now=NOW)
    summary = _summary.summarize(text, now=NOW)
    assert summary["by_queue"]["unknown"]["messages"] == 13
    assert list(summary["by_queue"])[-1] == "unknown"


def test_summary_age_buckets_edges(queue):
    message = dict(queue[0])
    for age_minutes, label in [(0, "5"), (4.99, "5"), (5, "10"), (1279.9, "1280"), (1280, "1280+"), (10 ** 5, "1280+")]:
        message["arrival_time"] = NOW - age_minutes * 60
        buckets = _summary.summarize([message], now=NOW)["age_buckets"]
        assert [b["label"] for b in buckets if b["messages"]] == [label]


def test_compact_keeps_what_actions_use_and_drops_the_delay_reasons():
    """A selected message as an action keeps it: same fingerprint and addresses, no delay reasons."""
    from ansible_collections.mailops.postfix.plugins.module_utils import _changeplan
    for message in _listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout")):
        small = _queue.compact(message)
        assert set(small) == {"queue_id", "queue_name", "arrival_time", "message_size", "forced_expire", "sender",
                              "recipients"}
        assert small["recipients"] == tuple(r["address"] for r in message["recipients"])
        assert _queue.addresses(small) == _queue.addresses(message) == list(small["recipients"])
        assert _changeplan.fingerprint(small) == _changeplan.fingerprint(message)
        assert all(small[key] == message[key] for key in small if key != "recipients")
