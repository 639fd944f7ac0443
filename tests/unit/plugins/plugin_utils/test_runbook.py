# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The phases' facts and verify's accounting, from module results shaped as the modules return them."""

from __future__ import absolute_import, division, print_function

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.postfix.plugins.filter import runbook as runbook_filters

from ansible_collections.mailops.postfix.plugins.module_utils import _access, _incident, _listing
from ansible_collections.mailops.postfix.plugins.plugin_utils import _preflight, _runbook
from ansible_collections.mailops.postfix.tests.unit import captures


def summary(total, hold=0):
    by_queue = {}
    if total - hold:
        by_queue["deferred"] = {"messages": total - hold, "bytes": 0}
    if hold:
        by_queue["hold"] = {"messages": hold, "bytes": 0}
    return {"total": total, "by_queue": by_queue}


def incident_view(**changes):
    view = {"incident_id": "t-1", "window_open": False, "quarantine": {"recorded": 5, "on_hold": 5, "missing": [],
            "missing_count": 0}, "held": 100, "window_arrivals": 30, "purged": 90, "released": 40, "junk_held": 80,
            "left_on_hold": 0, "left_on_hold_matching": {"junk": 0}, "unaccounted": [], "unaccounted_count": 0}
    view.update(changes)
    return view


def after(**changes):
    info = {"summary": summary(5, hold=5), "subsets": {"junk": summary(0)}, "incident": incident_view(),
            "postfix_version": "3.7.11"}
    info.update(changes)
    return info


ASSESS = {"summary": summary(105, hold=5), "junk": 80, "time": 1000.0}
PURGE = {"purged": 90, "archived": 90, "held_part": 80, "window_arrivals": 10, "junk_held": 80}
HOLD = {"held": 100}


def test_a_clean_run_adds_up():
    result = _runbook.verify_accounting(after(), ASSESS, HOLD, PURGE, {"requeued": 40}, [999.0, 1000.0, 1001.5])
    assert result["ok"] and result["problems"] == []
    assert result["delivered"] == 2 and result["quarantine_kept"] == 5 and result["junk_left"] == 0
    assert result["summary_line"].startswith("held 100 + arrived in the window 30 = purged 90 (archived 90)")


@pytest.mark.parametrize("info, purge, words", [
    (after(incident=incident_view(quarantine={"recorded": 5, "on_hold": 4, "missing": ["ABC123"], "missing_count": 1})),
     PURGE, "1 messages of the earlier hold are no longer on hold (first: ABC123)"),
    (after(incident=incident_view(unaccounted=["DEF456"], unaccounted_count=1)), PURGE,
     "1 messages the runbook held are neither purged, released nor on hold"),
    (after(incident=incident_view(window_open=True)), PURGE, "the incident window is still open"),
    (after(incident=incident_view(left_on_hold=3, left_on_hold_matching={"junk": 1})), PURGE,
     "2 messages the runbook held are still on hold, never released"),
    (after(incident=incident_view(left_on_hold=1, left_on_hold_matching={"junk": 1})), PURGE,
     "1 junk messages arrived after the purge and are still on hold"),
    (after(subsets={"junk": summary(3)}), PURGE, "3 junk messages are queued outside hold"),
    (after(), dict(PURGE, archived=89), "archived 89 but purged 90"),
    (after(), dict(PURGE, held_part=81), "purged 81 messages held before the window, more than the 80"),
    (after(incident=None), PURGE, "no incident ledger on this host"),
])
def test_problems_are_found(info, purge, words):
    result = _runbook.verify_accounting(info, ASSESS, HOLD, purge, {"requeued": 40})
    assert not result["ok"]
    assert any(problem.startswith(words) for problem in result["problems"]), result["problems"]
    assert result["summary_line"].startswith("ACCOUNTING FAILED")


def test_accounting_against_a_real_ledger_view():
    """verify_accounting reads _incident.view() as the module returns it."""
    listing = _listing.parse_json_lines(captures.read("mixed_all_queues_postqueue-j.stdout"))
    held = [m["queue_id"] for m in listing if m["queue_name"] != "hold"]
    quarantine = [m["queue_id"] for m in listing if m["queue_name"] == "hold"]
    ledger = _incident.new_ledger("t", {"name": "postfix", "config_dir": "/etc/postfix"}, 1, quarantine, [], True, {}, "/x")
    _incident.record(ledger, "hold", held, [], 2)
    _incident.record(ledger, "delete", held[:1], [], 3)
    ledger["window_ended"], ledger["window_arrivals_final"] = 4, True
    _incident.record(ledger, "requeue", held[1:], [], 5)
    holds = [m for m in listing if m["queue_name"] == "hold"]
    view = _incident.view(ledger, holds)
    info = {"summary": summary(len(holds), hold=len(holds)), "incident": view, "postfix_version": "3.7.11"}
    result = _runbook.verify_accounting(info, None, {"held": len(held)}, {"purged": 1, "archived": 1}, {"requeued": len(held) - 1})
    assert result["ok"], result["problems"]
    assert (result["held"], result["purged"], result["released"], result["quarantine_kept"]) == (
        len(held), 1, len(held) - 1, len(quarantine))


def test_assessment_of_an_unaffected_host_and_of_one_to_finish():
    info = {"summary": summary(10, hold=2), "subsets": {"junk": summary(0)}, "incident": None, "listed_at": 5.0,
            "postfix_version": "3.7.11", "instance": {"running": True}}
    result = _runbook.assessment(info)
    assert result["affected"] is False and result["on_hold_before"] == 2 and result["problems"] == []
    info["incident"] = incident_view(window_open=True)
    result = _runbook.assessment(info)
    assert result["affected"] is True and result["continuing"] and result["on_hold_before"] == 5
    info["instance"] = {"running": False, "running_reason": "no master.pid"}
    assert _runbook.assessment(info)["problems"] == ["Postfix is not running: no master.pid"]


def test_phase_results():
    action = {"changed_count": 3, "matched": 4, "vanished": ["A"], "matched_by_queue": {"active": 1, "deferred": 3},
              "incident": {"junk_held": 2, "selected_held": 2, "selected_window": 1, "excluded_quarantine": 5},
              "archive": {"count": 3, "directory": "/var/backups/x"}, "batches": [{}, {}], "excluded": 7}
    assert _runbook.phase_result(action, "hold")["in_flight"] == 1
    purge = _runbook.phase_result(action, "purge", fetched={"dest": "/srv/x.tar.gz"})
    assert (purge["purged"], purge["archived"], purge["held_part"], purge["window_arrivals"], purge["fetched_to"]) == (
        3, 3, 2, 1, "/srv/x.tar.gz")
    # the junk's count is the purge's (the first purge counts what the hold recorded), not the hold's
    assert purge["junk_held"] == 2 and "junk_held" not in _runbook.phase_result(action, "hold")
    # two purges (a plan's, then the window's): the bound is the incident's, not a sum; taken from the run that has it
    planned, window = dict(action, incident={"junk_held": 2, "selected_held": 2}), \
        dict(action, incident={"junk_held": None, "selected_held": 0, "selected_window": 1})
    assert _runbook.phase_result([planned, window], "purge")["junk_held"] == 2
    assert _runbook.phase_result([window, planned], "purge")["junk_held"] == 2
    assert _runbook.phase_result([window, window], "purge")["junk_held"] is None
    requeue = _runbook.phase_result(action, "requeue")
    assert (requeue["requeued"], requeue["batches"], requeue["excluded"], requeue["vanished"]) == (3, 2, 7, 1)
    with pytest.raises(ValueError):
        _runbook.phase_result(action, "fix")


def test_phase_results_from_counts_when_the_ids_were_not_returned():
    """return_ids=false: the lists are absent, counts says how many; two runs of a phase add up."""
    counts = {"queue_ids": 3, "vanished": 2, "not_applicable": 0, "pending": 0, "requeued_long_held": 0,
              "skipped_changed": 1}
    action = {"changed_count": 3, "matched": 6, "counts": counts, "skipped_changed": [{"queue_id": "A", "reason": "gone"}],
              "archive": {"count": 3, "directory": "/var/backups/x"}}
    purge = _runbook.phase_result(action, "purge")
    assert (purge["purged"], purge["vanished"], purge["skipped_changed"]) == (3, 2, 1)
    window = {"changed_count": 4, "matched": 4, "counts": dict(counts, queue_ids=4, vanished=5, skipped_changed=0),
              "archive": {"count": 4, "directory": "/var/backups/y"}}
    both = _runbook.phase_result([action, window], "purge")
    assert (both["purged"], both["vanished"], both["archived"], both["skipped_changed"]) == (7, 7, 7, 1)


HOLD_STEPS = [{"module": "mailops.postfix.postfix_incident", "args": {"state": "open"},
               "facts": {"hold_incident": "incident"}},
              {"module": "mailops.postfix.postfix_queue_action", "args": {"action": "hold"},
               "facts": {"hold_result": "hold"}}]


def test_a_phase_s_steps_with_their_defaults():
    steps = _runbook.phase_steps({"phase": "hold", "steps": HOLD_STEPS + [{"module": "ansible.builtin.find",
                                                                           "skip": "True", "may_fail": False}]})
    assert [(s["module"], s["facts"], s["skip"], s["may_fail"], s["require_running"]) for s in steps] == [
        ("mailops.postfix.postfix_incident", {"hold_incident": "incident"}, False, False, False),
        ("mailops.postfix.postfix_queue_action", {"hold_result": "hold"}, False, False, False),
        ("ansible.builtin.find", {}, True, False, False)]
    assert steps[2]["args"] == {}


@pytest.mark.parametrize("args, words", [
    ({"phase": "hold"}, "steps is None"),
    ({"phase": "hold", "steps": HOLD_STEPS, "when": True}, "unknown option(s) when (phase, steps, account, preflight)"),
    ({"phase": "", "steps": HOLD_STEPS}, "phase is ''"),
    ({"phase": "hold", "steps": [{"module": "postfix_incident"}]}, "step 1: module is 'postfix_incident'"),
    ({"phase": "hold", "steps": [dict(HOLD_STEPS[0], args="state=open")]}, "args is 'state=open'"),
    ({"phase": "hold", "steps": [dict(HOLD_STEPS[0], facts="hold_incident")]}, "facts is 'hold_incident'"),
    ({"phase": "hold", "steps": [dict(HOLD_STEPS[0], facts={"plan-applied": "result"})]},
     "fact 'plan-applied' is not a variable's name"),
    ({"phase": "hold", "steps": [dict(HOLD_STEPS[0], facts={"ansible_host": "result"})]}, "fact 'ansible_host'"),
    ({"phase": "hold", "steps": [HOLD_STEPS[0], dict(HOLD_STEPS[1], facts={"hold_incident": "hold"})]},
     "step 2 (mailops.postfix.postfix_queue_action): fact hold_incident is kept by an earlier step"),
    ({"phase": "hold", "steps": [dict(HOLD_STEPS[1], facts={"hold_result": "fix"})]},
     "fact hold_result keeps 'fix', not one of"),
    ({"phase": "hold", "steps": [dict(HOLD_STEPS[0], skip="maybe")]}, "skip is 'maybe'"),
    ({"phase": "hold", "steps": [dict(HOLD_STEPS[0], may_fail=1)]}, "may_fail is 1"),
    ({"phase": "hold", "steps": [dict(HOLD_STEPS[0], when="x")]}, "unknown key(s) when"),
])
def test_a_phase_s_steps_refused(args, words):
    with pytest.raises(ValueError) as caught:
        _runbook.phase_steps(args)
    assert words in str(caught.value)


def test_what_a_step_keeps_is_what_the_phase_s_filters_give():
    action = {"changed_count": 3, "matched": 4, "matched_by_queue": {"active": 1}, "changed": True,
              "incident": {"incident_id": "t-1", "window_open": True, "junk_held": 2}, "invocation": {"x": 1},
              "ansible_facts": {"plan_applied": "forged"}}
    assert _runbook.kept("incident", action) == action["incident"]
    for phase in ("hold", "purge", "requeue"):
        assert _runbook.kept(phase, action) == _runbook.phase_result(action, phase)
    whole = _runbook.kept("result", action)
    assert "ansible_facts" not in whole and "invocation" not in whole and whole["matched"] == 4
    step = _runbook.phase_steps({"phase": "p", "steps": [{"module": "a.b.c", "facts": {"r": "result", "i": "incident"},
                                                          "may_fail": True}]})[0]
    assert _runbook.step_facts(step, action) == {"r": whole, "i": action["incident"]}
    failed = {"failed": True, "msg": "no such instance"}
    assert _runbook.step_facts(step, failed) == {"r": failed}
    assert _runbook.step_facts(step, {"skipped": True}) == {"r": {"skipped": True}}
    info = {"summary": summary(10), "subsets": {"junk": summary(3)}, "incident": None, "listed_at": 5.0,
            "postfix_version": "3.7.11", "instance": {"running": False, "running_reason": "no master.pid",
                                                      "config_dir": "/etc/postfix-b"}}
    assert _runbook.kept("assessment", info) == _runbook.assessment(info)
    assert _runbook.kept("instance", info) == dict(info["instance"], incident=None, postfix_version="3.7.11")
    assert "Postfix (/etc/postfix-b) is not running on h1: " in _runbook.not_running(info, "h1")
    info["instance"]["running"] = True
    assert _runbook.not_running(info, "h1") is None


VERIFY_STEPS = [{"module": "mailops.postfix.postfix_queue_info", "args": {"limit": 0}, "until_empty": "settling",
                 "retries": "3", "delay": 0.5},
                {"module": "ansible.builtin.find", "args": {"paths": "/var/mail/sink"}}]


def verify_args(**account):
    args = {"phase": "verify", "steps": VERIFY_STEPS,
            "account": dict({"fact": "verify_result", "listing": 1, "deliveries": 2, "assess": ASSESS, "hold": HOLD,
                             "purge": PURGE, "requeue": None, "fail": True}, **account)}
    return args


def test_a_step_read_again_until_its_subset_is_empty():
    steps = _runbook.phase_steps(verify_args())
    assert [(s["until_empty"], s["retries"], s["delay"]) for s in steps] == [("settling", 3, 0.5), (None, 0, 1.0)]
    assert _runbook.unsettled(steps[0], {"subsets": {"settling": summary(4)}}) == 4
    assert _runbook.unsettled(steps[0], {"subsets": {"settling": summary(0)}}) == 0
    assert _runbook.unsettled(steps[1], {"files": []}) == 0  # nothing to wait for
    with pytest.raises(ValueError) as caught:
        _runbook.unsettled(steps[0], {"subsets": {}})
    assert "step's result has no subset settling to wait on" in str(caught.value)


def test_the_phase_s_accounting_is_verify_s():
    account = _runbook.phase_account(verify_args(), _runbook.phase_steps(verify_args()))
    info = after()
    found = {"files": [{"path": "/var/mail/sink/1", "mtime": 999.0}, {"path": "/var/mail/sink/2", "mtime": 1001.5}]}
    result, failure = _runbook.account(account, [info, found], check_mode=False, host="h1")
    assert failure is None
    assert result == _runbook.verify_accounting(info, ASSESS, HOLD, PURGE, None, [999.0, 1001.5])
    assert result["delivered"] == 1
    # the deliveries' step skipped (no sink): not counted
    result, failure = _runbook.account(account, [info, {"skipped": True}], check_mode=False, host="h1")
    assert result["delivered"] is None and result["ok"]
    # what does not add up fails the phase, with the accounting kept
    bad = after(incident=incident_view(window_open=True))
    result, failure = _runbook.account(account, [bad, found], check_mode=False, host="h1")
    assert not result["ok"] and failure == "ACCOUNTING FAILED on h1: " + "; ".join(result["problems"])
    # ... unless the accounting only reports
    report_only = _runbook.phase_account(verify_args(fail="false"), _runbook.phase_steps(verify_args()))
    assert _runbook.account(report_only, [bad, found], check_mode=False, host="h1") == (result, None)


def test_in_check_mode_there_is_nothing_to_account_for():
    account = _runbook.phase_account(verify_args(), _runbook.phase_steps(verify_args()))
    skipped = [{"skipped": True}, {"skipped": True}]
    assert _runbook.account(account, skipped, check_mode=True, host="h1") == (
        {"ok": True, "check_mode": True, "problems": []}, None)
    result, failure = _runbook.account(account, skipped, check_mode=False, host="h1")
    assert result is None and "the listing (step 1) was not run: nothing to account for on h1" in failure


def test_no_accounting_without_account():
    assert _runbook.phase_account({"phase": "hold", "steps": HOLD_STEPS}, _runbook.phase_steps(
        {"phase": "hold", "steps": HOLD_STEPS})) is None


@pytest.mark.parametrize("changes, words", [
    ({"listing": 3}, "account: listing is 3, not one of the steps (1-2)"),
    ({"listing": None}, "account: listing is None, not one of the steps (1-2)"),
    ({"deliveries": 0}, "account: deliveries is 0, not one of the steps (1-2)"),
    ({"fact": "verify-result"}, "account: fact 'verify-result' is not a variable's name"),
    ({"fail": "sometimes"}, "account: fail is 'sometimes'"),
    ({"purge": [1]}, "account: purge is [1], not a phase's result"),
    ({"report": {}}, "account: unknown key(s) report"),
])
def test_an_accounting_refused(changes, words):
    args = verify_args(**changes)
    with pytest.raises(ValueError) as caught:
        _runbook.phase_account(args, _runbook.phase_steps(args))
    assert words in str(caught.value)


@pytest.mark.parametrize("step, words", [
    ({"retries": -1}, "retries is -1, not a number of tries"),
    ({"retries": "many"}, "retries is 'many', not a number of tries"),
    ({"delay": "soon"}, "delay is 'soon', not a number of seconds"),
    ({"until_empty": ""}, "until_empty is '', not a subset's name"),
    ({"until_empty": None, "retries": 2}, "retries without until_empty"),
])
def test_a_waiting_step_refused(step, words):
    with pytest.raises(ValueError) as caught:
        _runbook.phase_steps({"phase": "verify", "steps": [dict(VERIFY_STEPS[0], **step)]})
    assert words in str(caught.value)


PREFLIGHT_STEPS = [{"module": "mailops.postfix.postfix_queue_info", "args": {"list_queue": False}, "may_fail": True},
                   {"module": "ansible.builtin.stat", "args": {"path": "/etc/postfix-out"}},
                   {"module": "ansible.builtin.stat", "args": {"path": "/var/mail/sink"}, "skip": True}]
TOOLS = {name: "/usr/sbin/" + name for name in ("postconf", "postqueue", "postsuper", "postcat", "postfix", "postmap")}
HOST_READ = {"instance": {"config_dir": "/etc/postfix", "tools": TOOLS, "map_types": ["hash"], "managed_by": None},
             "postfix_version": "3.7.11"}


def preflight_args(**preflight):
    return {"phase": "preflight", "steps": PREFLIGHT_STEPS, "preflight": dict({
        "values": {"mailops_junk": {"sender": ["spammer@example.com"]}, "fix_config_dir": "/etc/postfix-out",
                   "verify_delivered_dir": "/var/mail/sink"},
        "phases": ["assess", "hold", "fix", "purge"], "host": 1,
        "paths": {"fix_config_dir": 2, "verify_delivered_dir": 3}}, **preflight)}


def test_the_phase_s_preflight_admits_or_refuses_the_host():
    args = preflight_args()
    checked = _runbook.phase_preflight(args, _runbook.phase_steps(args))
    is_dir = {"stat": {"exists": True, "isdir": True}}
    assert _runbook.preflight(checked, [HOST_READ, is_dir, {"skipped": True}], "h1") is None
    # a directory that is not there, the instance not read: pre-flight's own verdict, in one message
    missing = {"stat": {"exists": False}}
    failure = _runbook.preflight(checked, [HOST_READ, missing, {"skipped": True}], "h1")
    assert failure == ("Pre-flight refused the run on h1, nothing was changed - "
                       "fix_config_dir: /etc/postfix-out does not exist on this host")
    unread = {"failed": True, "msg": "no Postfix instance at /etc/postfix-out"}
    failure = _runbook.preflight(checked, [unread, is_dir, {"skipped": True}], "h1")
    assert failure.endswith("nothing was changed - mailops_instance: no Postfix instance at /etc/postfix-out")
    # the run's variables wrong: refused on every host alike, the host's problems not looked at
    args = preflight_args(values={"mailops_junk": {}})
    failure = _runbook.preflight(_runbook.phase_preflight(args, _runbook.phase_steps(args)),
                                 [unread, missing, {"skipped": True}], "h1")
    assert " - mailops_junk: the junk selection is empty" in failure and "mailops_instance" not in failure
    # what it checks is pre-flight's own verdict
    verdict = _preflight.admission({"mailops_junk": {}}, ["assess", "hold", "fix", "purge"], unread,
                                   {"fix_config_dir": False})
    assert failure.endswith(" | ".join(verdict))


@pytest.mark.parametrize("changes, words", [
    ({"host": 4}, "preflight: host is 4, not one of the steps (1-3)"),
    ({"paths": {"fix_config_dir": "2"}}, "preflight: paths: fix_config_dir is '2', not one of the steps (1-3)"),
    ({"paths": ["fix_config_dir"]}, "preflight: paths is ['fix_config_dir'], not a dictionary"),
    ({"values": "mailops_junk"}, "preflight: values is 'mailops_junk', not a dictionary"),
    ({"phases": "purge"}, "preflight: phases is 'purge', not a list of phases"),
    ({"when": True}, "preflight: unknown key(s) when"),
])
def test_a_preflight_refused(changes, words):
    args = preflight_args(**changes)
    with pytest.raises(ValueError) as caught:
        _runbook.phase_preflight(args, _runbook.phase_steps(args))
    assert words in str(caught.value)


def test_omitted_options_are_left_out():
    omit = "__omit_place_holder__abc"
    args = {"state": "open", "incident_id": omit, "incident": {"junk": omit, "state_dir": "/var/lib/x"},
            "queues": ["hold", omit]}
    assert _runbook.strip_omitted(args, omit) == {"state": "open", "incident": {"state_dir": "/var/lib/x"},
                                                  "queues": ["hold"]}
    assert _runbook.strip_omitted(args, None) is args


@pytest.mark.parametrize("current, expected", [
    ("", "check_sender_access hash:/etc/postfix/m"),
    ("permit_mynetworks, reject_unauth_destination",
     "check_sender_access hash:/etc/postfix/m, permit_mynetworks, reject_unauth_destination"),
    ("check_sender_access hash:/etc/postfix/m, permit_mynetworks", ""),
    ("permit_mynetworks,\n    check_sender_access hash:/etc/postfix/m", ""),
])
def test_restriction_first(current, expected):
    assert _access.restriction_first(current, "check_sender_access hash:/etc/postfix/m") == expected


@pytest.mark.parametrize("failed, hosts, stop_on_error, percentage, halt", [
    (0, 10, False, 100, False),
    (10, 10, False, 100, False),     # 100: one failed host never stops the others, nor all of them
    (1, 10, True, 100, True),        # stop_on_error: the first failure
    (0, 10, True, 100, False),
    (2, 10, False, 20, False),       # 20% of 10 = 2: not more than that
    (3, 10, False, 20, True),
    (1, 3, False, 0, True),          # 0%: any failure
])
def test_fleet_halt(failed, hosts, stop_on_error, percentage, halt):
    assert _runbook.fleet_halt(failed, hosts, stop_on_error, percentage) is halt


@pytest.mark.parametrize("stop_on_error", ["true", 1, None])
def test_fleet_halt_takes_only_a_boolean(stop_on_error):
    with pytest.raises(TypeError):
        _runbook.fleet_halt(1, 3, stop_on_error, 100)


@pytest.mark.parametrize("stop_on_error, halt", [("true", True), ("yes", True), ("on", True), ("1", True),
                                                 ("no", False), ("False", False), ("0", False), (True, True)])
def test_the_filter_reads_booleans_as_ansible_does(stop_on_error, halt):
    hostvars = {"h1": {"mailops_failure": {"phase": "hold"}}, "h2": {}, "h3": {}}
    assert runbook_filters.fleet_halt(hostvars, ["h1", "h2", "h3"], stop_on_error, 100) is halt


@pytest.mark.parametrize("stop_on_error, percentage", [("maybe", 100), ("", 100), (False, "half"), (False, None)])
def test_the_filter_refuses_what_is_not_a_boolean_or_a_number(stop_on_error, percentage):
    with pytest.raises(AnsibleFilterError, match="mailops_stop_on_error must be a boolean"):
        runbook_filters.fleet_halt({"h1": {}}, ["h1"], stop_on_error, percentage)


def test_the_blocking_filters_are_the_module_s_own_functions():
    filters = runbook_filters.FilterModule().filters()
    assert filters["submitters_without"]("static:anyone", ["www-data"]) == "!www-data, static:anyone"
    assert filters["restriction_first"]("", "check_client_access hash:/etc/postfix/c") == "check_client_access hash:/etc/postfix/c"
