# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The metrics file from real listings and a ledger: the exposition format as Prometheus's own parser reads it,
counts equal to the listing's, bounded labels, no timestamps; written atomically."""

from __future__ import absolute_import, division, print_function

import os
import stat

from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.mailops.postfix.plugins.module_utils import _incident, _listing, _metrics
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW


def listing():
    return _listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))


def stats_of(messages, now=NOW):
    stats = _metrics.QueueStats(now)
    for message in messages:
        stats.add(message)
    return stats


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            assert sample.timestamp is None
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_queue_metrics_equal_the_listing():
    messages = listing()
    text = _metrics.render("postfix", stats_of(messages), None, True, NOW)
    found = samples(text)
    for queue in _metrics.LISTED_QUEUES:
        in_queue = [m for m in messages if m["queue_name"] == queue]
        key = (("postfix_instance", "postfix"), ("queue", queue))
        assert found[("mailops_postfix_queue_messages", key)] == len(in_queue)
        assert found[("mailops_postfix_queue_bytes", key)] == sum(m["message_size"] for m in in_queue)
        oldest = min([m["arrival_time"] for m in in_queue] or [NOW])
        assert found[("mailops_postfix_queue_oldest_age_seconds", key)] == NOW - oldest
        by_age = sum(value for (name, labels), value in found.items() if name == "mailops_postfix_queue_messages_by_age"
                     and dict(labels)["queue"] == queue)
        assert by_age == len(in_queue)
    assert found[("mailops_postfix_hold_messages", (("held_by", "admin"), ("postfix_instance", "postfix")))] == \
        sum(1 for m in messages if m["queue_name"] == "hold")
    assert found[("mailops_postfix_up", (("postfix_instance", "postfix"),))] == 1
    assert found[("mailops_postfix_incident_window_open", (("postfix_instance", "postfix"),))] == 0
    # bounded labels only: never a sender, a domain or a login
    labels = set(name for (_family, pairs) in found for name, _value in pairs)
    assert labels <= {"postfix_instance", "queue", "age", "held_by", "phase"}
    # every family has HELP and TYPE before its samples; the text ends with a newline
    lines = text.splitlines()
    for family, _help in _metrics.FAMILIES:
        name = _metrics.PREFIX + family
        if any(line.startswith(name + "{") for line in lines):
            assert lines.index("# HELP %s %s" % (name, _help)) + 1 == lines.index("# TYPE %s gauge" % name)
    assert text.endswith("\n")


def test_holds_by_the_incident_and_the_runbook_runs():
    messages = listing()
    held = sorted(m["queue_id"] for m in messages if m["queue_name"] == "hold")
    ledger = _incident.new_ledger("t-1", {"name": "postfix", "config_dir": "/etc/postfix"}, NOW - 600, held[:1], [],
                                  True, {}, "/etc/postfix/x")
    _incident.record(ledger, "hold", ["ABCDEF12345"], [], NOW - 500, {"matched": 1, "ok": True})
    _incident.record(ledger, "delete", [], [], NOW - 400, {"matched": 0, "ok": False})
    found = samples(_metrics.render("postfix", stats_of(messages), ledger, True, NOW))
    instance = ("postfix_instance", "postfix")
    # the window is open: what is on hold besides the earlier hold arrived in it
    assert found[("mailops_postfix_hold_messages", (("held_by", "admin"), instance))] == 1
    assert found[("mailops_postfix_hold_messages", (("held_by", "incident"), instance))] == len(held) - 1
    assert found[("mailops_postfix_incident_window_open", (instance,))] == 1
    assert found[("mailops_postfix_incident_window_opened_timestamp_seconds", (instance,))] == NOW - 600
    assert found[("mailops_postfix_runbook_last_run_success", (("phase", "hold"), instance))] == 1
    assert found[("mailops_postfix_runbook_last_run_messages", (("phase", "hold"), instance))] == 1
    assert found[("mailops_postfix_runbook_last_run_success", (("phase", "purge"), instance))] == 0
    assert found[("mailops_postfix_runbook_last_run_timestamp_seconds", (("phase", "purge"), instance))] == NOW - 400
    assert found[("mailops_postfix_runbook_last_run_timestamp_seconds", (("phase", "window_open"), instance))] == NOW - 600


def test_a_failed_listing_still_writes_what_it_knows():
    found = samples(_metrics.render("postfix-b", stats_of([]), None, False, NOW, listed=False))
    instance = ("postfix_instance", "postfix-b")
    assert found[("mailops_postfix_up", (instance,))] == 0
    assert found[("mailops_postfix_master_running", (instance,))] == 0
    assert not any(name == "mailops_postfix_queue_messages" for name, _labels in found)


def test_label_values_are_escaped():
    text = _metrics.render('odd"name\\\n', stats_of([]), None, True, NOW)
    assert samples(text)[("mailops_postfix_up", (("postfix_instance", 'odd"name\\\n'),))] == 1


def test_the_file_is_replaced_atomically(tmp_path):
    path = _metrics.write_textfile(str(tmp_path), "mailops_postfix.prom", "old\n")
    os.chmod(path, 0o600)
    handle = open(path)          # a reader holding the old file keeps reading the old file whole
    _metrics.write_textfile(str(tmp_path), "mailops_postfix.prom", "new\n")
    assert handle.read() == "old\n"
    handle.close()
    with open(path) as current:
        assert current.read() == "new\n" and stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(str(tmp_path)) == ["mailops_postfix.prom"]
    assert _metrics.file_name("postfix") == "mailops_postfix.prom"
    assert _metrics.file_name("postfix-b") == "mailops_postfix_postfix-b.prom"
