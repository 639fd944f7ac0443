# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plans: fingerprints of real listed messages, matching a plan against a later listing."""

from __future__ import absolute_import, division, print_function

import copy

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _changeplan, _listing
from ansible_collections.mailops.postfix.tests.unit import captures

NOW = captures.CAPTURE_NOW
INSTANCE = {"name": "postfix", "config_dir": "/etc/postfix"}


@pytest.fixture(scope="module")
def listed():
    return _listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))


@pytest.fixture
def part(listed):
    return _changeplan.host_plan("hold", {"queues": ["deferred"]}, "3.7.11", INSTANCE, NOW,
                                 [m for m in listed if m["queue_name"] == "deferred"])


def test_fingerprint_fields_and_order_independence(listed):
    message = [m for m in listed if len(m["recipients"]) > 1][0]
    print_ = _changeplan.fingerprint(message)
    assert set(print_) == set(_changeplan.FIELDS)
    assert print_["recipients"] == len(message["recipients"])
    shuffled = dict(message, recipients=list(reversed(message["recipients"])))
    assert _changeplan.fingerprint(shuffled) == print_   # recipient order is not identity
    fewer = dict(message, recipients=message["recipients"][1:])
    assert _changeplan.fingerprint(fewer)["recipients_sha256"] != print_["recipients_sha256"]


def test_plan_matches_an_unchanged_queue_exactly(part, listed):
    chosen, skipped = _changeplan.match(part, listed)
    assert sorted(m["queue_id"] for m in chosen) == sorted(e["queue_id"] for e in part["messages"])
    assert skipped == []
    assert len(chosen) >= 2


def test_gone_changed_and_reused_ids_are_skipped_with_reasons(part, listed):
    planned = [e["queue_id"] for e in part["messages"]]
    gone, reused, partly = planned[0], planned[1], planned[-1] if len(planned) > 2 else None
    later = []
    for message in listed:
        if message["queue_id"] == gone:
            continue                                 # delivered or requeued: no longer listed
        if message["queue_id"] == reused:            # the same short ID now names another message
            message = dict(message, sender="someone-else@example.net", arrival_time=message["arrival_time"] + 600)
        if partly and message["queue_id"] == partly and len(message["recipients"]) > 1:
            message = dict(message, recipients=message["recipients"][1:])
        later.append(message)
    chosen, skipped = _changeplan.match(part, later)
    reasons = dict((entry["queue_id"], entry["reason"]) for entry in skipped)
    assert reasons[gone].startswith("gone since the plan")
    assert reasons[reused] == "changed since the plan: arrival_time, sender"
    assert gone not in [m["queue_id"] for m in chosen] and reused not in [m["queue_id"] for m in chosen]
    # messages the plan does not name are never chosen
    assert set(m["queue_id"] for m in chosen) <= set(planned)


@pytest.mark.parametrize("change, message", [
    (dict(action="delete"), "the plan is for action=delete, not hold"),
    (dict(created=NOW - 7200), "the plan is 2h00m old, older than plan_max_age (1h00m): it is stale"),
    (dict(created=NOW + 3600), "the plan was made 1h00m in the future"),
    (dict(instance={"name": "postfix-b", "config_dir": "/etc/postfix-b"}), "the plan is for the instance at /etc/postfix-b"),
    (dict(format=2), "not a plan of format 1"),
    (dict(messages=[{"queue_id": "X"}]), "a planned message lacks one of"),
    (dict(created="yesterday"), "the plan has no creation time"),
])
def test_validate_refuses(part, change, message):
    bad = dict(copy.deepcopy(part), **change)
    with pytest.raises(_changeplan.PlanError) as error:
        _changeplan.validate(bad, "hold", "/etc/postfix", NOW, 3600)
    assert str(error.value).startswith(message)


def test_validate_accepts_a_fresh_plan(part):
    _changeplan.validate(part, "hold", "/etc/postfix", NOW + 60, 3600)


def test_audit_line_is_one_short_line():
    from ansible_collections.mailops.postfix.plugins.module_utils import _actions
    ids = ["%011X" % number for number in range(25)]
    result = {"action": "delete", "queue_ids": ids, "changed_count": 25, "matched": 27, "skipped_changed": [{}],
              "plan_id": "3f9c2a1b7d4e5f6012a4c8e09b7d3f51", "archive": {"directory": "/var/backups/x/postfix/20261129T000000Z"}}
    line = _actions.audit_text({"operator": "alice"}, result, None)
    assert "\n" not in line
    assert line.startswith("operator=alice action=delete plan=3f9c2a1b7d4e5f6012a4c8e09b7d3f51 changed=25 matched=27 skipped_changed=1 "
                           "archive=/var/backups/x/postfix/20261129T000000Z result=ok ids=")
    assert line.endswith(",".join(ids[:20]) + ",...(5 more)")
    failed = _actions.audit_text({"operator": None}, dict(result, plan_id=None, selection={"sender": ["a@b.c"]},
                                                          archive={}), "boom")
    assert 'operator=- action=delete selection={"sender":["a@b.c"]}' in failed and "result=failed" in failed
