# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The incident's junk (_incident_scope, _incident): the hold records its definition in the ledger, the first purge that
selects messages the incident held counts it among those still on hold - the bound of every purge of the incident.

The reader is the module's own (_content.read) running the stand-in postcat of test_postcat_read_ahead, which prints
Postfix 3.7's own ``postcat -q`` capture of each message and logs the IDs it was run with.
"""

from __future__ import absolute_import, division, print_function

import json

import pytest

from ansible_collections.mailops.postfix.plugins.module_utils import _incident, _verdicts
from ansible_collections.mailops.postfix.plugins.module_utils._incident_scope import IncidentScope
from ansible_collections.mailops.postfix.plugins.module_utils._queue import compact
from ansible_collections.mailops.postfix.plugins.module_utils._selection import Selector
from ansible_collections.mailops.postfix.tests.unit.plugins.module_utils.test_verdicts import LISTED, LOCAL, reader, runs
from ansible_collections.mailops.postfix.tests.unit.plugins.module_utils.test_postcat_read_ahead import stand_in

INSTANCE = {"name": "postfix", "config_dir": "/etc/postfix"}
NOW = 1795960100.5
BOUNCE = "623E4160083"        # Postfix's own bounce; LOCAL was submitted with sendmail; the other three came by SMTP
ON_HOLD = [dict(m, queue_name="hold", sender="s@example.org", recipients=[], forced_expire=False) for m in LISTED]
BY_SMTP = [m for m in ON_HOLD if m["queue_id"] not in (LOCAL, BOUNCE)]


def options(state_dir, junk=None, scope="all"):
    return {"state_dir": state_dir, "junk": junk, "scope": scope, "include_quarantine": False,
            "guard_max_per_source": None, "release_guarded": None}


def opened(tmp_path, held=()):
    """An incident (no window) whose hold held HELD: its ledger written where the modules read it."""
    state_dir = str(tmp_path / "state")
    ledger = _incident.new_ledger("t-1", INSTANCE, NOW - 60, [], sorted(held), False, {}, None)
    _incident.write_ledger(_incident.ledger_path(state_dir, "postfix"), ledger)
    return state_dir


def run(state_dir, cli, action, selected, listed=ON_HOLD, junk=None, check_mode=False):
    """One action run's incident part: listing noted, restricted, outcome recorded (as _actions._run does)."""
    scope = IncidentScope(options(state_dir, junk), INSTANCE, NOW, check_mode, reader(cli), action)
    for _message in scope.note_listing(listed):
        pass
    scope.refuse_unless_allowed(action)
    kept, summary = scope.restrict(action, selected)
    scope.record_outcome(action, {"queue_ids": [m["queue_id"] for m in kept], "matched": len(kept)})
    return kept, summary


def ledger_of(state_dir):
    with open(_incident.ledger_path(state_dir, "postfix")) as handle:
        return json.load(handle)


def test_the_hold_records_the_junk_and_reads_nothing(tmp_path):
    cli, log = stand_in(tmp_path)
    state_dir = opened(tmp_path)
    _kept, summary = run(state_dir, cli, "hold", ON_HOLD, junk={"origin": "smtp", "sender": None})
    assert summary["junk_held"] is None and "junk_reading" not in summary
    assert runs(log) == [], "the hold read queue files"
    ledger = ledger_of(state_dir)
    assert ledger["junk"] == {"options": {"origin": "smtp"}, "time": NOW} and ledger["junk_held"] is None
    # a later hold of the incident with another junk does not change what the first recorded
    run(state_dir, cli, "hold", [], junk={"origin": "local"})
    assert ledger_of(state_dir)["junk"]["options"] == {"origin": "smtp"}


def test_the_first_purge_counts_the_recorded_junk_among_what_is_still_held_and_bounds_every_purge(tmp_path):
    cli, log = stand_in(tmp_path)
    state_dir = opened(tmp_path)
    run(state_dir, cli, "hold", ON_HOLD, junk={"origin": "smtp"})
    # one of the held SMTP messages left the hold since (released by hand): not counted, it can not be purged
    still = [m for m in ON_HOLD if m["queue_id"] != BY_SMTP[0]["queue_id"]]
    wide = [m for m in still if m["queue_id"] != BOUNCE]            # the local submission too: wider than the junk
    with pytest.raises(_incident.IncidentError, match="matches 3 messages .* only 2 of the messages the incident held"):
        run(state_dir, cli, "delete", wide, listed=still)
    assert ledger_of(state_dir)["junk_held"] is None and ledger_of(state_dir)["purged"] == []
    assert sorted(runs(log)[0][-4:]) == sorted(m["queue_id"] for m in still), "each held message read once"
    kept, summary = run(state_dir, cli, "delete", BY_SMTP[1:], listed=still)
    assert [m["queue_id"] for m in kept] == [m["queue_id"] for m in BY_SMTP[1:]]
    assert summary["junk_held"] == 2 and summary["selected_held"] == 2
    assert summary["junk_reading"] == {"remembered": 0, "read": 4, "gone": 0}
    ledger = ledger_of(state_dir)
    assert ledger["junk_held"] == 2 and sorted(ledger["purged"]) == sorted(m["queue_id"] for m in BY_SMTP[1:])
    # counted once: the next purge is bounded by the count, and reads nothing for it
    before = len(runs(log))
    _kept, summary = run(state_dir, cli, "delete", [], listed=[m for m in still if m not in BY_SMTP])
    assert summary["junk_held"] == 2 and "junk_reading" not in summary and len(runs(log)) == before


def test_a_purge_takes_the_assessment_s_verdicts_and_counts_envelope_junk_without_reading(tmp_path):
    cli, log = stand_in(tmp_path)
    state_dir = opened(tmp_path)
    run(state_dir, cli, "hold", ON_HOLD, junk={"origin": "smtp"})
    assessed = _verdicts.Verdicts(_verdicts.path_for(state_dir, "postfix"))
    by_smtp = Selector(origin="smtp")
    list(_verdicts.judge(assessed, [by_smtp], ON_HOLD, by_smtp.needs, reader(cli)))
    assessed.save({m["queue_id"] for m in ON_HOLD})
    before = len(runs(log))
    _kept, summary = run(state_dir, cli, "delete", BY_SMTP)
    assert summary["junk_held"] == 3 and summary["junk_reading"] == {"remembered": 5, "read": 0, "gone": 0}
    assert len(runs(log)) == before
    # junk told by its envelope alone: counted from the listing
    other = opened(tmp_path / "other")
    run(other, cli, "hold", ON_HOLD, junk={"sender": "s@example.org"})
    _kept, summary = run(other, cli, "delete", ON_HOLD[:2])
    assert summary["junk_held"] == 5 and "junk_reading" not in summary and len(runs(log)) == before


def test_check_mode_counts_but_records_nothing(tmp_path):
    cli, _log = stand_in(tmp_path)
    state_dir = opened(tmp_path)
    run(state_dir, cli, "hold", ON_HOLD, junk={"origin": "smtp"})
    with pytest.raises(_incident.IncidentError, match="wider than the junk"):
        run(state_dir, cli, "delete", ON_HOLD, check_mode=True)
    _kept, summary = run(state_dir, cli, "delete", BY_SMTP, check_mode=True)
    assert summary["junk_held"] == 3
    assert ledger_of(state_dir)["junk_held"] is None


@pytest.mark.parametrize("junk, junk_held", [
    ({"options": {"origin": "smtp"}}, None),                      # no time
    ({"options": "origin", "time": NOW}, None),                   # not options
    (None, "3"),                                                  # a count that is not a number
])
def test_a_damaged_ledger_junk_is_refused(tmp_path, junk, junk_held):
    ledger = _incident.new_ledger("t-1", INSTANCE, NOW, [], [], False, {}, None)
    ledger.update(junk=junk, junk_held=junk_held)
    with pytest.raises(_incident.IncidentError, match="junk"):
        _incident.validate_ledger(ledger, "incident.json")


def test_a_ledger_whose_hold_already_counted_the_junk_keeps_its_count(tmp_path):
    """An incident held by an earlier release (its hold counted the junk): the count stays the bound, nothing is
    recorded over it and no purge counts again."""
    cli, log = stand_in(tmp_path)
    state_dir = opened(tmp_path)
    ledger = ledger_of(state_dir)
    ledger.update(junk_held=3)
    del ledger["junk"]
    _incident.write_ledger(_incident.ledger_path(state_dir, "postfix"), ledger)
    run(state_dir, cli, "hold", ON_HOLD, junk={"origin": "smtp"})
    assert "junk" not in ledger_of(state_dir) and _incident.junk_to_count(ledger_of(state_dir)) is None
    with pytest.raises(_incident.IncidentError, match="matches 5 messages .* only 3"):
        run(state_dir, cli, "delete", ON_HOLD)
    _kept, summary = run(state_dir, cli, "delete", BY_SMTP)
    assert summary["junk_held"] == 3 and "junk_reading" not in summary and runs(log) == []


def test_the_purge_keeps_its_candidates_compact(tmp_path):
    """The candidates the first purge counts are kept as the selection keeps what it selected (_queue.compact): the
    listing's parsed messages - their recipients' delay reasons and other fields - are not kept alive by the count."""
    state_dir = opened(tmp_path, held=[m["queue_id"] for m in ON_HOLD])
    run(state_dir, None, "hold", [], listed=[], junk={"sasl_username": ["intern@example.org"]})
    parsed = [dict(m, recipients=[{"address": "r@example.net", "delay_reason": "connect to mx: timed out"}],
                   extra_field="x" * 100) for m in ON_HOLD]
    scope = IncidentScope(options(state_dir), INSTANCE, NOW, False, None, "delete")
    assert [m["queue_id"] for m in scope.note_listing(parsed)] == [m["queue_id"] for m in ON_HOLD]
    assert scope.junk_candidates == [compact(m) for m in parsed]
    assert all(m["recipients"] == ("r@example.net",) and "extra_field" not in m for m in scope.junk_candidates)
