# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report: per-host summaries of real listings merged, and rendered."""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _queue, _report
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW
LISTINGS = ("mixed_all_queues_postqueue-j.stdout", "mixed_longids_postqueue-j.stdout",
            "mixed_short_and_long_ids_longids_disabled_postqueue-j.stdout")


@pytest.fixture(scope="module")
def hosts():
    """Three 'hosts': three real listings captured from Postfix 3.7.11."""
    return dict(("h%d" % number, _queue.parse_json_lines(captures.read(name)))
                for number, name in enumerate(LISTINGS, 1))


def test_merge_equals_summary_of_everything(hosts):
    everything = [message for messages in hosts.values() for message in messages]
    top = 1000  # large enough that no host's top list was cut: the merge must then be exact
    merged = _report.merge_summaries([_queue.summarize(m, now=NOW, top=top) for m in hosts.values()], top=top)
    whole = _queue.summarize(everything, now=NOW, top=top)
    for field in ("total", "bytes", "recipients", "forced_expire", "age_unknown", "by_queue", "age_buckets", "oldest"):
        assert merged[field] == whole[field], field
    for name in ("top_senders", "top_sender_domains", "top_recipient_domains", "top_reasons"):
        assert sorted(json.dumps(row, sort_keys=True) for row in merged[name]) == sorted(json.dumps(row, sort_keys=True) for row in whole[name]), name
    assert merged["total"] == sum(len(m) for m in hosts.values()) > 16


def test_merge_keeps_top_n_and_skips_missing_hosts(hosts):
    summaries = [_queue.summarize(m, now=NOW, top=2) for m in hosts.values()]
    merged = _report.merge_summaries(summaries + [None], top=2)
    assert len(merged["top_senders"]) == 2
    assert merged["top_senders"][0]["messages"] >= merged["top_senders"][1]["messages"]
    assert _report.merge_summaries([None, None]) is None


def test_merge_refuses_different_age_buckets(hosts):
    one = _queue.summarize(hosts["h1"], now=NOW)
    other = json.loads(json.dumps(one))
    other["age_buckets"][0]["label"] = "7"
    with pytest.raises(ValueError, match="age buckets differ"):
        _report.merge_summaries([one, other])


def phase_facts(summary_before, summary_after, purged, delivered, ok=True, problems=()):
    return {
        "assess_result": {"summary": summary_before, "junk": purged, "postfix_version": "3.7.11"},
        "hold_result": {"held": summary_before["total"], "in_flight": 0},
        "purge_result": {"purged": purged, "archived": purged, "archive_dir": "/var/backups/x/20261129T000000Z"},
        "requeue_result": {"requeued": summary_before["total"] - purged},
        "verify_result": {"summary": summary_after, "delivered": delivered, "remaining": summary_after["total"],
                          "junk_left": 0, "ok": ok, "problems": list(problems)},
    }


def test_fleet_report_statuses_totals_and_markdown(hosts):
    before = dict((host, _queue.summarize(messages, now=NOW)) for host, messages in hosts.items())
    empty = _queue.summarize([], now=NOW)
    per_host = {
        "h1": phase_facts(before["h1"], empty, 5, before["h1"]["total"] - 5),
        "h2": phase_facts(before["h2"], empty, 2, 1, ok=False, problems=["before 9 != remaining 0 + purged 2 + delivered 1"]),
        "h3": {"assess_result": {"summary": before["h3"], "junk": 0, "problems": ["Postfix is not running"]}},
        "h5": {"assess_result": {"summary": before["h3"]}, "hold_result": {"held": 1}},
        # h4 was unreachable: no facts at all
    }
    report = _report.fleet_report(per_host, ["h1", "h2", "h3", "h4", "h5"], generated="2026-11-29T00:00:00Z")
    statuses = dict((host, entry["status"]) for host, entry in report["hosts"].items())
    assert statuses == {"h1": "verified", "h2": "verification failed", "h3": "assessed", "h4": "no result",
                        "h5": "partial"}
    assert report["host_status"] == {"verified": 1, "verification failed": 1, "assessed": 1, "no result": 1, "partial": 1}
    assert report["total"]["phases"]["purged"] == 7
    assert report["total"]["phases"]["delivered"] == before["h1"]["total"] - 5 + 1
    assert report["total"]["before"]["total"] == sum(s["total"] for s in before.values()) + before["h3"]["total"]
    assert report["total"]["after"]["total"] == 0
    json.dumps(report)  # JSON-ready
    text = _report.render_markdown(report)
    assert "| h4 | no result |" in text
    assert "**h2**: before 9 != remaining 0 + purged 2 + delivered 1" in text
    assert "/var/backups/x/20261129T000000Z" in text
    assert "**h3**: Postfix is not running" in text
    total_row = [line for line in text.splitlines() if line.startswith("| **total**")][0]
    assert "| 7 |" in total_row


def test_check_mode_is_not_reported_as_verified():
    entry = _report.host_entry({"assess_result": {"summary": None}, "verify_result": {"ok": True, "check_mode": True}})
    assert entry["status"] == "check mode"


def test_markdown_escapes_table_cells():
    report = _report.fleet_report({"a|b": {"verify_result": {"ok": False, "problems": ["x"], "delivered": 0}}},
                                  ["a|b"], generated="now")
    assert "| a\\|b |" in _report.render_markdown(report)


def summary_of(total, hold=0):
    by_queue = {"deferred": {"messages": total - hold, "bytes": 0}}
    if hold:
        by_queue["hold"] = {"messages": hold, "bytes": 0}
    return {"total": total, "by_queue": by_queue}


def test_accounting_adds_up():
    result = _report.verify_accounting(summary_of(3), assess={"summary": summary_of(20), "junk": 10},
                                       purge={"purged": 10, "archived": 10}, requeue={"requeued": 10},
                                       junk_left=0, delivered=7)
    assert result["ok"] and result["problems"] == [] and result["delivered_counted"]


@pytest.mark.parametrize("change, problem", [
    (dict(delivered=6), "before 20 != remaining 3 + purged 10 + delivered 6 (-1)"),
    (dict(purge={"purged": 11, "archived": 11}, delivered=6), "purged 11 messages, more than the 10 junk messages assessed"),
    (dict(purge={"purged": 10, "archived": 9}), "archived 9 but purged 10"),
    (dict(junk_left=2), "2 junk messages are still queued"),
    (dict(after=summary_of(3, hold=1)), "1 messages are still on hold after the requeue"),
    (dict(assess=None), "no assessment in this run"),
    (dict(delivered=None, after=summary_of(11)), "remaining 11 + purged 10 exceed the 20 messages queued before"),
])
def test_accounting_problems(change, problem):
    arguments = dict(after=summary_of(3), assess={"summary": summary_of(20), "junk": 10},
                     purge={"purged": 10, "archived": 10}, requeue={"requeued": 10}, junk_left=0, delivered=7)
    arguments.update(change)
    result = _report.verify_accounting(**arguments)
    assert not result["ok"]
    assert any(text.startswith(problem) for text in result["problems"]), result["problems"]


def test_accounting_infers_delivered_when_not_counted():
    result = _report.verify_accounting(summary_of(3), assess={"summary": summary_of(20), "junk": None},
                                       purge={"purged": 10, "archived": 10})
    assert result["ok"] and result["delivered"] == 7 and not result["delivered_counted"]


def test_plans_and_audit_log_are_linked():
    facts = {"assess_result": {"summary": None}, "hold_result": {"held": 3, "plan_id": "aaaa", "skipped_changed": 2},
             "purge_result": {"purged": 1, "archived": 1, "plan_id": "bbbb", "skipped_changed": 0}}
    report = _report.fleet_report({"h1": facts}, ["h1"], generated="now", audit_log="/srv/audit.jsonl")
    entry = report["hosts"]["h1"]
    assert entry["plans"] == {"hold": "aaaa", "purge": "bbbb"} and entry["phases"]["skipped_changed"] == 2
    assert report["audit_log"] == "/srv/audit.jsonl"
    text = _report.render_markdown(report)
    assert "| h1 | hold | aaaa |" in text and "| h1 | purge | bbbb |" in text
    assert "`/srv/audit.jsonl`" in text
    assert "skipped (changed since the plan)" in text
