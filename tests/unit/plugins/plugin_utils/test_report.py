# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report: per-host summaries of real listings merged, and rendered."""

from __future__ import absolute_import, division, print_function

import json
from xml.etree import ElementTree

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _listing, _summary
from ansible_collections.mailops.postfix.plugins.plugin_utils import _report
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW
LISTINGS = ("mixed_all_queues_postqueue-j.stdout", "mixed_longids_postqueue-j.stdout",
            "mixed_short_and_long_ids_longids_disabled_postqueue-j.stdout")


@pytest.fixture(scope="module")
def hosts():
    """Three 'hosts': three real listings captured from Postfix 3.7.11."""
    return dict(("h%d" % number, _listing.parse_json_lines(captures.read(name)))
                for number, name in enumerate(LISTINGS, 1))


def test_merge_equals_summary_of_everything(hosts):
    everything = [message for messages in hosts.values() for message in messages]
    top = 1000  # large enough that no host's top list was cut: the merge must then be exact
    merged = _report.merge_summaries([_summary.summarize(m, now=NOW, top=top) for m in hosts.values()], top=top)
    whole = _summary.summarize(everything, now=NOW, top=top)
    for field in ("total", "bytes", "recipients", "forced_expire", "age_unknown", "by_queue", "age_buckets", "oldest"):
        assert merged[field] == whole[field], field
    for name in ("top_senders", "top_sender_domains", "top_recipient_domains", "top_reasons"):
        assert sorted(json.dumps(row, sort_keys=True) for row in merged[name]) == sorted(json.dumps(row, sort_keys=True) for row in whole[name]), name
    assert merged["total"] == sum(len(m) for m in hosts.values()) > 16


def test_merge_keeps_top_n_and_skips_missing_hosts(hosts):
    summaries = [_summary.summarize(m, now=NOW, top=2) for m in hosts.values()]
    merged = _report.merge_summaries(summaries + [None], top=2)
    assert len(merged["top_senders"]) == 2
    assert merged["top_senders"][0]["messages"] >= merged["top_senders"][1]["messages"]
    assert _report.merge_summaries([None, None]) is None


def test_merge_refuses_different_age_buckets(hosts):
    one = _summary.summarize(hosts["h1"], now=NOW)
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
    before = dict((host, _summary.summarize(messages, now=NOW)) for host, messages in hosts.items())
    empty = _summary.summarize([], now=NOW)
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


def test_plans_and_audit_log_are_linked():
    facts = {"assess_result": {"summary": None}, "hold_result": {"held": 3, "plan_id": "aaaa", "skipped_changed": 2},
             "purge_result": {"purged": 1, "archived": 1, "plan_id": "aaaa", "skipped_changed": 1}}
    report = _report.fleet_report({"h1": facts}, ["h1"], generated="now", audit_log="/srv/audit.jsonl")
    entry = report["hosts"]["h1"]
    assert entry["plan_id"] == "aaaa" and entry["phases"]["skipped_changed"] == 3
    assert report["audit_log"] == "/srv/audit.jsonl"
    text = _report.render_markdown(report)
    assert "| h1 | aaaa |" in text
    assert "`/srv/audit.jsonl`" in text
    assert "skipped (changed since the plan)" in text


@pytest.mark.parametrize("facts, status", [
    ({}, "no result"),
    ({"assess_result": {"summary": None, "affected": False}}, "unaffected"),
    ({"assess_result": {"summary": None, "affected": True}}, "assessed"),
    ({"assess_result": {"summary": None}, "hold_incident": {"window_open": True}}, "partial"),
    ({"assess_result": {"summary": None}, "hold_result": {"held": 3}}, "partial"),
    ({"verify_result": {"ok": True}}, "verified"),
    ({"verify_result": {"ok": False, "problems": ["x"]}}, "verification failed"),
    ({"verify_result": {"ok": True, "check_mode": True}}, "check mode"),
])
def test_statuses(facts, status):
    assert _report.host_entry(facts)["status"] == status


def test_an_open_window_says_how_to_end_it():
    entry = _report.host_entry({"assess_result": {"summary": None}, "hold_result": {"held": 3},
                                "hold_incident": {"window_open": True}})
    assert entry["window_open"] and any("mailops.postfix.end_window" in problem for problem in entry["problems"])
    ended = _report.host_entry({"hold_result": {"held": 3}, "hold_incident": {"window_open": True},
                                "end_window_incident": {"window_open": False}})
    assert not ended["window_open"] and ended["problems"] == []


def test_artifact_and_junit_follow_the_report():
    per_host = {"h1": {"assess_result": {"summary": None}, "hold_result": {"held": 1}, "purge_result": {"purged": 1, "archived": 1},
                       "requeue_result": {"requeued": 0}, "verify_result": {"ok": True, "problems": []}},
                "h2": {"assess_result": {"summary": None}, "hold_result": {"held": 1}, "hold_incident": {"window_open": True}},
                "h3": {"assess_result": {"summary": None, "affected": False}}}
    report = _report.fleet_report(per_host, ["h1", "h2", "h3"], generated="now")
    artifact = _report.artifact(report)
    assert artifact["host_status"] == {"verified": 1, "partial": 1, "unaffected": 1}
    assert artifact["hosts"]["h2"]["window_open"] and artifact["total"]["phases"]["held"] == 2
    xml = _report.junit(report)
    root = ElementTree.fromstring(xml)
    assert root.get("tests") == "15" and root.get("failures") == "3"      # h2: purge, requeue, verify did not run
    failed = [case.get("name") for case in root.iter("testcase") if case.find("failure") is not None]
    assert failed == ["h2 purge", "h2 requeue", "h2 verify"]
    skipped = [case.get("name") for case in root.iter("testcase") if case.find("skipped") is not None]
    assert skipped == ["h3 hold", "h3 purge", "h3 requeue", "h3 verify"]


def _run_report(hosts, purged):
    per_host = dict((host, {"assess_result": {"summary": {"total": 10, "by_queue": {"deferred": {"messages": 10, "bytes": 1}},
                                                          "bytes": 1, "recipients": 10, "age_buckets": [], "oldest": None}},
                            "hold_result": {"held": 10}, "purge_result": {"purged": purged, "archived": purged},
                            "requeue_result": {"requeued": 10 - purged}, "verify_result": {"ok": True, "problems": []}})
                    for host in hosts)
    return _report.fleet_report(per_host, hosts, generated="now")


def test_slices_merge_to_the_unsliced_counts():
    whole = _run_report(["h1", "h2", "h3"], 7)
    slices = [_run_report(["h1"], 7), _run_report(["h2", "h3"], 7)]
    for parts in (slices, [_report.artifact(report) for report in slices]):
        merged = _report.merge_reports(parts, "now")
        assert merged["host_status"] == whole["host_status"] == {"verified": 3}
        assert merged["total"]["phases"] == whole["total"]["phases"]
        assert merged["slices"] == 2 and sorted(merged["hosts"]) == ["h1", "h2", "h3"]
        before = merged["total"]["before"]
        assert (before["total"] if isinstance(before, dict) else before) == whole["total"]["before"]["total"]
        assert "| **total** |" in _report.render_markdown(merged)
        assert 'failures="0"' in _report.junit(merged)
    with pytest.raises(ValueError, match="overlap"):
        _report.merge_reports([slices[0], slices[0]], "now")
