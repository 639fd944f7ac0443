# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident: the window's main.cf values (set, then restored exactly) and the ledger, on real listings."""

from __future__ import absolute_import, division, print_function

import json
import os
import stat

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _incident, _listing
from ansible_collections.mailops.postfix.tests.unit import captures
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import queue_ids_on_disk

TABLE = "/etc/postfix/mailops_incident_window.regexp"
ENTRY = "regexp:" + TABLE
INSTANCE = {"name": "postfix", "config_dir": "/etc/postfix"}


def saved(header_checks=None, classes=None):
    return {"header_checks": {"explicit": header_checks is not None, "value": header_checks or ""},
            "internal_mail_filter_classes": {"explicit": classes is not None, "value": classes or ""}}


@pytest.mark.parametrize("header_checks, classes", [
    (None, None),                                                     # stock main.cf: neither is set
    ("regexp:/etc/postfix/header_checks", None),                      # the host's own header checks
    ("pcre:/etc/postfix/a, regexp:/etc/postfix/b", "bounce"),         # several tables, bounce already filtered
    ("regexp:/etc/postfix/a\n    regexp:/etc/postfix/b", "notify, bounce"),   # a continued line, both classes
])
def test_the_window_is_undone_exactly(header_checks, classes):
    before = {"header_checks": header_checks or "", "internal_mail_filter_classes": classes or ""}
    wanted = _incident.window_values(before, TABLE)
    during = dict(before, **wanted)
    # our table comes last: the host's own header checks still decide first
    assert _incident.split_list(during["header_checks"])[-1] == ENTRY
    assert set(_incident.split_list(during["internal_mail_filter_classes"])) >= {"bounce", "notify"}
    assert _incident.window_in_effect(during, TABLE)
    assert _incident.window_values(during, TABLE) == {}        # opening twice changes nothing
    restore = _incident.restored_values(saved(header_checks, classes), during, TABLE)
    for name, original in (("header_checks", header_checks), ("internal_mail_filter_classes", classes)):
        if name in wanted:
            assert restore[name] == original        # the exact text again, or None: unset as it was
        else:
            assert name not in restore
    assert _incident.restored_values(saved(header_checks, classes), before, TABLE) == {}


def test_a_change_made_during_the_window_is_kept():
    during = {"header_checks": "regexp:/etc/postfix/a, %s, pcre:/etc/postfix/new" % ENTRY,
              "internal_mail_filter_classes": "bounce, notify"}
    restore = _incident.restored_values(saved("regexp:/etc/postfix/a", None), during, TABLE)
    assert restore == {"header_checks": "regexp:/etc/postfix/a, pcre:/etc/postfix/new",
                       "internal_mail_filter_classes": None}


def test_services_that_skip_header_checks_are_named():
    overrides = captures.read_lab("postconf-P_content_filter.stdout")
    assert _incident.bypassing_services("", overrides) == ["127.0.0.1:10025/inet"]
    assert _incident.bypassing_services("no_header_body_checks", "")[0].startswith("every service")
    assert _incident.bypassing_services("no_unknown_recipient_checks", "") == []


@pytest.fixture
def listing():
    return _listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))


def ledger_for(listing, quarantine, held):
    return _incident.new_ledger("t-1", INSTANCE, captures.CAPTURE_NOW, quarantine, held, True, saved(), TABLE)


def test_the_ledger_keeps_the_earlier_hold_out_and_guards_the_purge(listing):
    on_hold = [m["queue_id"] for m in listing if m["queue_name"] == "hold"]
    others = [m["queue_id"] for m in listing if m["queue_name"] != "hold"]
    assert len(on_hold) >= 2 and len(others) >= 3
    quarantine = on_hold[:1]
    ledger = ledger_for(listing, quarantine, [])
    _incident.record(ledger, "hold", others, [], captures.CAPTURE_NOW)
    ledger["junk_held"] = 2
    # after the hold: everything is on hold; the window held the rest of the hold queue
    after = [dict(m, queue_name="hold") for m in listing]
    in_quarantine, in_held, in_window = _incident.classify(ledger, after)
    assert [m["queue_id"] for m in in_quarantine] == quarantine
    assert sorted(m["queue_id"] for m in in_held) == sorted(others)
    assert sorted(m["queue_id"] for m in in_window) == sorted(on_hold[1:])
    kept, excluded = _incident.narrow(ledger, after, _incident.Scope.ALL)
    assert excluded == 1 and quarantine[0] not in [m["queue_id"] for m in kept]
    kept, _excluded = _incident.narrow(ledger, after, _incident.Scope.ALL, include_quarantine=True)
    assert len(kept) == len(after)
    assert [m["queue_id"] for m in _incident.narrow(ledger, after, _incident.Scope.WINDOW)[0]] == \
        [m["queue_id"] for m in in_window]
    # the purge: two held messages and every window arrival pass; a third held one is a selection wider than the junk
    held_junk = [m for m in after if m["queue_id"] in others[:2]]
    assert _incident.purge_guard(ledger, held_junk + in_window) == (2, len(in_window))
    with pytest.raises(_incident.IncidentError, match="wider than the junk"):
        _incident.purge_guard(ledger, [m for m in after if m["queue_id"] in others[:3]])


def test_the_ledger_accounts_for_every_message(listing):
    on_hold = [m["queue_id"] for m in listing if m["queue_name"] == "hold"]
    others = [m["queue_id"] for m in listing if m["queue_name"] != "hold"]
    ledger = ledger_for(listing, on_hold[:1], [])
    _incident.record(ledger, "hold", others, [], captures.CAPTURE_NOW)
    _incident.record(ledger, "delete", others[:2], [], captures.CAPTURE_NOW)
    # ending the window records what it held (as _window.end_window does from the hold directory)
    ledger["window_arrivals"], ledger["window_arrivals_final"] = on_hold[1:], True
    ledger["window_ended"] = captures.CAPTURE_NOW + 60
    # the release after the window: everything else the incident held
    _incident.record(ledger, "requeue", others[2:] + on_hold[1:], ["NOT-RECORDED"], captures.CAPTURE_NOW)
    assert "NOT-RECORDED" not in ledger["window_arrivals"]
    quarantine_still_held = [m for m in listing if m["queue_id"] == on_hold[0]]
    view = _incident.view(ledger, quarantine_still_held)
    assert view["quarantine"] == {"recorded": 1, "on_hold": 1, "missing": [], "missing_count": 0}
    assert (view["held"], view["purged"], view["released"], view["window_arrivals"]) == (
        len(others), 2, len(others) - 2 + len(on_hold) - 1, len(on_hold) - 1)
    assert view["left_on_hold"] == 0 and view["unaccounted_count"] == 0 and not view["window_open"]
    # a held message that vanished outside the runbook, and the earlier hold gone: both are named
    ledger["released"] = ledger["released"][1:]
    view = _incident.view(ledger, [])
    assert view["unaccounted_count"] == 1 and view["quarantine"]["missing"] == on_hold[:1]


def test_a_new_incident_takes_over_what_an_ended_one_left_on_hold(listing):
    previous = ledger_for(listing, ["Q1"], ["A1", "A2", "A3"])
    previous["purged"], previous["released"] = ["A1"], ["A2"]
    assert _incident.left_over(previous) == ["A3"]
    assert _incident.carried_from(previous, ["Q1", "A3", "NEW"]) == ["A3"]
    assert _incident.carried_from(None, ["Q1"]) == []


def test_the_ledger_file_is_private_and_atomic(tmp_path, listing):
    path = _incident.ledger_path(str(tmp_path / "state"), "postfix")
    assert _incident.read_ledger(path) is None
    ledger = ledger_for(listing, ["Q1"], [])
    _incident.write_ledger(path, ledger)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert _incident.read_ledger(path) == json.loads(json.dumps(ledger))
    assert [name for name in os.listdir(os.path.dirname(path)) if name != "incident.json"] == []
    with open(path, "w") as handle:
        handle.write("{not json")
    with pytest.raises(_incident.IncidentError, match="not valid JSON"):
        _incident.read_ledger(path)
    with open(path, "w") as handle:
        json.dump({"format": 99}, handle)
    with pytest.raises(_incident.IncidentError, match="not an incident ledger"):
        _incident.read_ledger(path)


def test_a_queue_directory_is_read_for_queue_ids_only(tmp_path):
    hold = tmp_path / "hold"
    (hold / "A").mkdir(parents=True)       # hash_queue_names may hash hold too
    for name in ("3E5A3160721", "A/4jf2qb2Yd6zBs3G", "not-an-id", ".tmp"):
        (hold / name).write_text("")
    assert queue_ids_on_disk(str(tmp_path), "hold") == ["3E5A3160721", "4jf2qb2Yd6zBs3G"]
    assert queue_ids_on_disk(str(tmp_path), "deferred") == []


@pytest.mark.parametrize("value", ["", "a b", "-x", "x" * 65, "é", None])
def test_incident_ids_are_checked(value):
    with pytest.raises(_incident.IncidentError):
        _incident.check_incident_id(value)


@pytest.mark.parametrize("action, on_hold_after, recorded_as, done", [
    ("delete", ["B", "C"], "purged", ["A"]),          # A was deleted before the kill; B and C are still on hold
    ("requeue", ["C"], "released", ["A", "B"]),
    ("hold", ["A"], "held", ["A"]),
])
def test_an_action_killed_half_way_is_accounted_for(listing, action, on_hold_after, recorded_as, done):
    """From where its messages are now."""
    ledger = ledger_for(listing, [], [])
    _incident.intend(ledger, action, ["A", "B", "C"], captures.CAPTURE_NOW, archive="/backups/x/20261129T000000Z")
    view = _incident.view(ledger, [{"queue_id": queue_id, "queue_name": "hold"} for queue_id in on_hold_after])
    assert view[recorded_as] == len(done)                      # the view settles without writing
    assert "pending" in ledger
    interrupted = _incident.account_interrupted(ledger, on_hold_after)
    assert interrupted["action"] == action and interrupted["archive"] == "/backups/x/20261129T000000Z"
    assert interrupted["not_done"] == sorted(set("ABC") - set(done))    # what the next run acts on again
    assert ledger[recorded_as] == done and "pending" not in ledger
    assert _incident.account_interrupted(ledger, on_hold_after) is None     # nothing pending any more


def test_a_ledger_belongs_to_the_instance_that_wrote_it(tmp_path, listing):
    """A ledger copied with a disk image, or found in a state directory two hosts share, is refused: its queue IDs
    name other messages there. The refusal says how to start over."""
    spool_a, spool_b = tmp_path / "spool-a", tmp_path / "spool-b"
    spool_a.mkdir()
    spool_b.mkdir()
    here = dict(INSTANCE, queue_directory=str(spool_a))
    ledger = _incident.new_ledger("t-1", here, captures.CAPTURE_NOW, ["Q1"], [], True, saved(), TABLE)
    assert ledger["owner"]["queue_inode"] == os.stat(str(spool_a)).st_ino
    path = _incident.ledger_path(str(tmp_path / "state"), "postfix")
    _incident.write_ledger(path, ledger)
    assert _incident.read_ledger(path, here)["incident_id"] == "t-1"
    elsewhere = dict(INSTANCE, queue_directory=str(spool_b))
    with pytest.raises(_incident.IncidentError) as error:
        _incident.read_ledger(path, elsewhere)
    assert "was written for host" in str(error.value) and "queue_directory, queue_inode" in str(error.value)
    assert "mv %s %s.foreign" % (path, path) in str(error.value)
    # the same directory restored from a backup (another inode) is another queue too
    restored = tmp_path / "restored"
    restored.mkdir()                  # made while the old directory exists: another inode
    spool_a.rmdir()
    restored.rename(spool_a)
    with pytest.raises(_incident.IncidentError, match="queue_inode"):
        _incident.read_ledger(path, here)
    # a ledger of an earlier release (no owner) is adopted by the instance reading it
    del ledger["owner"]
    _incident.write_ledger(path, ledger)
    assert _incident.read_ledger(path, elsewhere)["owner"]["queue_directory"] == str(spool_b)
