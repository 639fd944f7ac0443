# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""report.html and plan.html: one self-contained file from the same data as report.json, totals first, every value
from a queue escaped, no request possible; an empty fleet, failed hosts and 500 hosts."""

from __future__ import absolute_import, division, print_function

import re
from html.parser import HTMLParser

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _listing, _summary
from ansible_collections.mailops.postfix.plugins.plugin_utils import _report, _report_html, _runbook_plan
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW
EVIL = '<script>alert("x")</script><img src="http://evil.example/x.png">'


class Document(HTMLParser):
    """What a browser would see of the document: tags and attributes (to find anything that fetches), text, tables."""

    def __init__(self, text):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.tags, self.text, self.tables, self._table, self._cell = [], [], [], None, None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = []
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self.tables.append(self._table)
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def fetching(document):
    """Every tag or attribute that would make a browser fetch or run something."""
    bad = [tag for tag, _attrs in document.tags if tag in ("script", "img", "link", "iframe", "object", "embed", "base",
                                                           "audio", "video", "source", "form")]
    bad += ["%s %s" % (tag, name) for tag, attrs in document.tags for name, value in attrs.items()
            if name in ("src", "href", "action", "srcset", "poster") or name.startswith("on")
            or (name == "style" and "url(" in (value or ""))]
    return bad


def facts(summary, purged, ok=True, problems=(), window_open=False, origins=None):
    result = {"assess_result": {"summary": summary, "junk": purged, "postfix_version": "3.7.11", "origins": origins,
                                "on_hold_before": 2},
              "hold_result": {"held": summary["total"], "in_flight": 0},
              "hold_incident": {"window_open": window_open}}
    if not window_open:
        result.update({
            "purge_result": {"purged": purged, "archived": purged, "archive_dir": "/var/backups/x/h/postfix/20261129T000000Z"},
            "requeue_result": {"requeued": summary["total"] - purged},
            "verify_result": {"summary": _summary.summarize([], now=NOW), "delivered": 3, "remaining": 0, "junk_left": 0,
                              "ok": ok, "problems": list(problems), "guarded": {}}})
    return result


@pytest.fixture(scope="module")
def summary():
    return _summary.summarize(_listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout")), now=NOW)


def test_a_report_renders_its_totals_first_and_matches_report_json(summary):
    origins = {"read": 5, "origins": [{"origin": "smtp", "messages": 5, "bytes": 900}],
               "top_sasl_usernames": [{"sasl_username": "mallory@example.org", "messages": 4, "bytes": 800}],
               "top_clients": [{"client_address": "203.0.113.9", "messages": 4, "bytes": 800}],
               "top_subjects": [{"subject": EVIL, "messages": 4, "bytes": 800}]}
    per_host = {"h1": facts(summary, 5, origins=origins), "h2": facts(summary, 2, ok=False, problems=["junk left: 1"]),
                "h3": facts(summary, 0, window_open=True)}
    report = _report.fleet_report(per_host, ["h1", "h2", "h3", "h4"], generated="2026-11-29T00:00:00Z")
    text = _report_html.render_report(report)
    document = Document(text)
    assert fetching(document) == []
    assert text.startswith("<!DOCTYPE html>") and "default-src 'none'" in text
    words = " ".join(document.text)
    # the totals, before any host: hosts verified / failed, purged, released, windows open
    cards = re.findall(r'<div class="card[^"]*"><span class="n">([^<]*)</span>([^<]*)</div>', text)
    assert dict((label, value) for value, label in cards) == {
        "hosts verified": "1", "hosts failed, partial or with problems": "3", "junk purged": "7", "archived first": "7",
        "legitimate released": str(2 * summary["total"] - 7), "quarantine kept on hold": "6", "junk left": "0",
        "incident windows still open": "1"}
    assert text.index("hosts verified") < text.index("Per host")
    # what needs attention comes first, with the command that ends the open window
    assert text.index("Needs attention") < text.index("Per host")
    assert "ansible-playbook mailops.postfix.end_window -i INVENTORY -l h3" in words
    assert "junk left: 1" in words and "the runbook did not finish here (no result)" in words
    # the per-host table has the same figures as report.json
    (per_host_table,) = [table for table in document.tables if table and table[0][:2] == ["host", "status"]]
    header = per_host_table[0]
    rows = dict((row[0], dict(zip(header, row))) for row in per_host_table[1:])
    assert rows["h1"]["purged"] == str(report["hosts"]["h1"]["phases"]["purged"])
    assert rows["total"]["purged"] == str(report["total"]["phases"]["purged"])
    assert u"\u2714 verified" in rows["h1"]["status"] and u"\u2716 no result" in rows["h4"]["status"]
    # who is sending, escaped: the spammer's Subject is text
    assert EVIL in words and "<script>" not in text and "&lt;script&gt;" in text
    assert "mallory@example.org" in words
    # every chart has a text alternative, every table a caption and header cells
    assert all(attrs.get("role") == "img" for tag, attrs in document.tags if tag == "svg")
    assert text.count("<svg") == text.count("<title id=") >= 1 and "<desc id=" in text
    assert text.count("<table") == text.count("<caption>") and 'scope="col"' in text


def test_an_empty_fleet_and_a_fleet_where_every_host_failed():
    empty = _report_html.render_report(_report.fleet_report({}, [], generated="now"))
    assert "0 hosts" in empty and fetching(Document(empty)) == []
    failed = _report.fleet_report({"h1": {"assess_result": {"summary": None, "problems": ["Postfix is not running: x"]}}},
                                  ["h1", "h2"], generated="now")
    text = _report_html.render_report(failed)
    assert "Needs attention" in text and "Postfix is not running: x" in text


def test_five_hundred_hosts(summary):
    hosts = ["mx%03d.example.org" % number for number in range(500)]
    per_host = dict((host, facts(summary, number % 7)) for number, host in enumerate(hosts))
    report = _report.fleet_report(per_host, hosts, generated="now")
    text = _report_html.render_report(report)
    document = Document(text)
    (table,) = [table for table in document.tables if table and table[0][:2] == ["host", "status"]]
    assert len(table) == 1 + 500 + 1 and fetching(document) == []
    assert len(text) < 2500000      # a report people can open: linear in the hosts, about 3 kB each


def test_who_is_sending_per_host_is_kept_to_the_hosts_that_read_the_most(summary):
    hosts = ["mx%02d" % number for number in range(60)]
    per_host = dict((host, facts(summary, 1, origins={
        "read": number, "origins": [{"origin": "smtp", "messages": number, "bytes": 10}],
        "top_sasl_usernames": [{"sasl_username": "u%d@example.org" % number, "messages": number, "bytes": 10}]}))
        for number, host in enumerate(hosts))
    text = _report_html.render_report(_report.fleet_report(per_host, hosts, generated="now"))
    per_host_part = text.split("<summary>Per host", 1)[1].split("</details>", 1)[0]
    shown = re.findall(r"<h3>(mx\d\d)</h3>", per_host_part)
    assert shown == ["mx%02d" % number for number in range(59, 9, -1)]
    assert "The 10 other hosts' are in report.json." in per_host_part


def test_a_hostile_host_name_and_values_stay_text():
    report = _report.fleet_report({EVIL: {"verify_result": {"ok": False, "problems": [EVIL], "delivered": 0}}},
                                  [EVIL], generated=EVIL, title=EVIL)
    text = _report_html.render_report(report)
    assert "<script>" not in text and "<img" not in text and fetching(Document(text)) == []
    assert Document(text).text.count(EVIL) >= 3


def test_a_plan_renders_its_id_its_state_and_escaped_values(summary):
    part = _runbook_plan.host_part("h1", {"summary": summary, "instance": {"name": "postfix", "config_dir": "/etc/postfix"},
                                          "postfix_version": "3.7.11", "time": NOW, "on_hold_before": 1, "affected": True,
                                          "origins": {"top_subjects": [{"subject": EVIL, "messages": 1, "bytes": 1}]}},
                                   {"messages": [{"queue_id": "ABCDEF12345", "arrival_time": NOW, "sender": EVIL,
                                                  "recipients": 1, "recipients_sha256": "x", "message_size": 10}]})
    plan = _runbook_plan.fleet_plan({"h1": part, "h2": None}, {"mailops_junk": {"sender": [EVIL]}}, NOW, "alice")
    text = _report_html.render_plan(plan)
    document = Document(text)
    assert fetching(document) == [] and "<script>" not in text
    words = " ".join(document.text)
    assert plan["plan_id"] in words and "not yet applied" in words
    assert "mailops_plan_id=%s" % plan["plan_id"] in words and "No plan for these hosts" in words
    assert EVIL in words
