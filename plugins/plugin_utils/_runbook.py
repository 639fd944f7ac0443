# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""What each phase of the runbook leaves for the others and for the report. Controller-side, pure.

A module's result goes in, the phase's fact comes out (assess_result, hold_result, purge_result,
requeue_result, verify_result): the roles keep no arithmetic in Jinja, and every figure of the
report is computed here, once.
"""

from __future__ import absolute_import, division, print_function

from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.mailops.postfix.plugins.plugin_utils import _preflight


def _count(value: Any) -> int:
    return len(value) if isinstance(value, (list, tuple)) else int(value or 0)


def _number(result: Dict[str, Any], key: str) -> int:
    """How many KEY a result has: its list (or number), or - when the IDs were not returned - its counts."""
    if key in result:
        return _count(result[key])
    return int((result.get("counts") or {}).get(key) or 0)


def assessment(info: Dict[str, Any]) -> Dict[str, Any]:
    """assess_result from postfix_queue_info's result (whole queue, the junk subset, the incident)."""
    summary = info["summary"]
    junk = (info.get("subsets") or {}).get("junk")
    incident = info.get("incident")
    on_hold = summary.get("by_queue", {}).get("hold", {}).get("messages", 0)
    running = info["instance"].get("running")
    problems = [] if running else ["Postfix is not running: %s" % info["instance"].get("running_reason")]
    continuing = bool(incident) and bool(incident.get("window_open") or incident.get("left_on_hold"))
    affected = bool(junk and junk["total"]) or continuing
    return {
        "time": info["listed_at"],
        "summary": summary,
        "origins": info.get("origins"),
        "junk": junk["total"] if junk is not None else None,
        "junk_summary": junk,
        "postfix_version": info["postfix_version"],
        "instance": info["instance"],
        # what is on hold now that is not the runbook's: the earlier hold (its ledger has it when an incident is open)
        "on_hold_before": incident["quarantine"]["recorded"] if continuing else on_hold,
        "incident": incident,
        "continuing": continuing,
        "affected": affected if junk is not None else True,
        "problems": problems,
    }


def _combined(results: Any) -> Any:
    """Several runs of one phase (the purge of a plan, then of what arrived in the window) as one result."""
    if isinstance(results, dict):
        return results
    results = [result for result in results if result]
    if len(results) == 1:
        return results[0]
    combined = {"matched": 0, "changed_count": 0, "vanished": 0, "skipped_changed": 0, "batches": 0, "excluded": 0,
                "matched_by_queue": {}, "incident": {}}
    archives = [result["archive"] for result in results if result.get("archive")]
    for result in results:
        for key in ("matched", "changed_count", "vanished", "skipped_changed", "batches", "excluded"):
            combined[key] += _number(result, key)
        for queue, count in (result.get("matched_by_queue") or {}).items():
            combined["matched_by_queue"][queue] = combined["matched_by_queue"].get(queue, 0) + count
        for key, value in (result.get("incident") or {}).items():
            if key == "junk_held":      # the incident's bound, the same in each run once a purge counted it
                if value is not None:
                    combined["incident"][key] = value
                else:
                    combined["incident"].setdefault(key, None)
            elif isinstance(value, int) and not isinstance(value, bool):
                combined["incident"][key] = combined["incident"].get(key, 0) + value
            else:
                combined["incident"].setdefault(key, value)
        combined["plan_id"] = combined.get("plan_id") or result.get("plan_id")
        combined["listed_at"] = result.get("listed_at")
    if archives:
        combined["archive"] = {"count": sum(archive.get("count", 0) for archive in archives),
                               "directory": archives[0].get("directory"),
                               "directories": [archive.get("directory") for archive in archives]}
    return combined


def phase_result(result: Any, phase: str, fetched: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """hold_result, purge_result or requeue_result from postfix_queue_action's result (or a list of them)."""
    result = _combined(result)
    incident = result.get("incident") or {}
    common = {
        "matched": result.get("matched", 0),
        "vanished": _number(result, "vanished"),
        "plan_id": result.get("plan_id"),
        "skipped_changed": _number(result, "skipped_changed"),
        "listed_at": result.get("listed_at"),
        "excluded_quarantine": incident.get("excluded_quarantine"),
        "incident_id": incident.get("incident_id"),
    }
    changed = result.get("changed_count", 0)
    if phase == "hold":
        return dict(common, held=changed, in_flight=(result.get("matched_by_queue") or {}).get("active", 0))
    if phase == "purge":
        archive = result.get("archive") or {}
        return dict(common, purged=changed, archived=archive.get("count", 0), archive_dir=archive.get("directory"),
                    archive_dirs=archive.get("directories") or ([archive["directory"]] if archive.get("directory") else []),
                    fetched_to=(fetched or {}).get("dest"), held_part=incident.get("selected_held"),
                    junk_held=incident.get("junk_held"),
                    window_arrivals=incident.get("selected_window"))
    if phase == "requeue":
        return dict(common, requeued=changed, batches=_count(result.get("batches")),
                    excluded=result.get("excluded", 0), window_arrivals=incident.get("selected_window"),
                    guarded=incident.get("guarded") or [])
    raise ValueError("phase_result: unknown phase %r (hold, purge or requeue)" % (phase,))


def verify_accounting(info: Dict[str, Any], assess: Optional[Dict[str, Any]] = None, hold: Optional[Dict[str, Any]] = None,
                      purge: Optional[Dict[str, Any]] = None, requeue: Optional[Dict[str, Any]] = None,
                      delivered_times: Any = None) -> Dict[str, Any]:
    """verify_result: every message the runbook held is accounted for, from the incident's ledger on the host.

    ``info`` is postfix_queue_info's result after the run (summary, the junk subset, the incident view);
    ``delivered_times`` the modification times of the files at a delivery sink (None: not counted).
    """
    problems = []
    summary = info["summary"]
    incident = info.get("incident")
    junk = (info.get("subsets") or {}).get("junk")
    on_hold = summary.get("by_queue", {}).get("hold", {}).get("messages", 0)
    purged = (purge or {}).get("purged", 0) or 0
    archived = (purge or {}).get("archived", 0) or 0
    before = ((assess or {}).get("summary") or {}).get("total")
    delivered = None
    if delivered_times is not None and assess:
        delivered = sum(1 for stamp in delivered_times if float(stamp) >= float(assess["time"]))
    if incident is None:
        problems.append("no incident ledger on this host: nothing the runbook did can be accounted for here")
        incident = {}
    quarantine = incident.get("quarantine") or {}
    if quarantine.get("missing_count"):
        problems.append("%d messages of the earlier hold are no longer on hold (first: %s)"
                        % (quarantine["missing_count"], ", ".join(quarantine.get("missing") or [])))
    if incident.get("unaccounted_count"):
        problems.append("%d messages the runbook held are neither purged, released nor on hold (first: %s)"
                        % (incident["unaccounted_count"], ", ".join(incident.get("unaccounted") or [])))
    if incident.get("window_open"):
        problems.append("the incident window is still open: new mail is held (end it with the requeue phase or "
                        "mailops.postfix.end_window)")
    junk_on_hold = (incident.get("left_on_hold_matching") or {}).get("junk", 0) or 0
    left_on_hold = incident.get("left_on_hold") or 0
    guarded = {source: count for source, count in (incident.get("guarded") or {}).items() if count}
    if left_on_hold - junk_on_hold - sum(guarded.values()) > 0:
        problems.append("%d messages the runbook held are still on hold, never released"
                        % (left_on_hold - junk_on_hold - sum(guarded.values())))
    junk_outside_hold = None
    if junk is not None:
        junk_outside_hold = junk["total"] - junk.get("by_queue", {}).get("hold", {}).get("messages", 0)
        if junk_outside_hold > 0:
            problems.append("%d junk messages are queued outside hold, waiting to be delivered" % junk_outside_hold)
        if junk_on_hold:
            problems.append("%d junk messages arrived after the purge and are still on hold: the cause is not fixed "
                            "(run the purge again once it is)" % junk_on_hold)
    if purge is not None and archived != purged:
        problems.append("archived %d but purged %d" % (archived, purged))
    held_part, junk_held = (purge or {}).get("held_part"), (purge or {}).get("junk_held")
    if held_part is not None and junk_held is not None and held_part > junk_held:
        problems.append("purged %d messages held before the window, more than the %d junk messages held"
                        % (held_part, junk_held))
    result = {
        "ok": not problems,
        "problems": problems,
        "before": before,
        "remaining": summary["total"],
        "on_hold": on_hold,
        "quarantine_kept": quarantine.get("on_hold"),
        "quarantine": quarantine.get("recorded"),
        "held": incident.get("held"),
        "window_arrivals": incident.get("window_arrivals"),
        "purged": purged,
        "archived": archived,
        "released": incident.get("released"),
        "left_on_hold": left_on_hold,
        "guarded": guarded,
        "delivered": delivered,
        "junk_left": (junk_outside_hold or 0) + junk_on_hold if junk is not None else None,
        "summary": summary,
        "incident_id": incident.get("incident_id"),
        "window_open": incident.get("window_open"),
        "postfix_version": info.get("postfix_version"),
    }
    result["summary_line"] = (
        "held %s + arrived in the window %s = purged %d (archived %d) + released %s + left on hold %d; earlier hold "
        "%s of %s kept; junk left %s; delivered %s" % (
            result["held"], result["window_arrivals"], purged, archived, result["released"], left_on_hold,
            result["quarantine_kept"], result["quarantine"], result["junk_left"],
            "not counted" if delivered is None else delivered))
    if guarded:
        result["summary_line"] += "; kept on hold by the release guard: %s" % ", ".join(
            "%s (%d)" % item for item in sorted(guarded.items()))
    if problems:
        result["summary_line"] = "ACCOUNTING FAILED: " + "; ".join(problems)
    return result


def fleet_halt(failed: int, hosts: int, stop_on_error: bool = False, max_fail_percentage: float = 100) -> bool:
    """Whether the fleet controls end the play: FAILED of HOSTS hosts failed so far.

    With stop_on_error the first failure ends it; otherwise more failed hosts than
    max_fail_percentage percent of HOSTS (100: never - one failed host never stops the others).
    """
    if not isinstance(stop_on_error, bool):
        raise TypeError("stop_on_error is %r, not a boolean" % (stop_on_error,))
    limit = 0 if stop_on_error else int(max_fail_percentage)
    return int(failed) > limit * int(hosts) / 100.0


# A phase as one task (the runbook_phase action): its module runs, one after the other on the host, and the facts
# it keeps - set on the host once, with the results of the steps that ran even when a later step fails.
STEP_KEYS = ("module", "args", "facts", "skip", "may_fail", "require_running", "until_empty", "retries", "delay")
ACCOUNT_KEYS = ("fact", "listing", "deliveries", "assess", "hold", "purge", "requeue", "fail")
PREFLIGHT_KEYS = ("values", "phases", "host", "paths")
KEEPS = ("result", "incident", "instance", "assessment", "hold", "purge", "requeue")
_NOT_KEPT = ("ansible_facts", "invocation", "_ansible_no_log", "_ansible_verbose_always", "_ansible_verbose_override")


def _boolean(value: Any, what: str) -> bool:
    # a template gives a string on ansible-core before 2.19
    value = {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value
    if not isinstance(value, bool):
        raise ValueError("%s is %r, not a boolean" % (what, value))
    return value


def phase_steps(args: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The runbook_phase task's steps, checked and with their defaults; ValueError says what is wrong."""
    unknown = sorted(set(args) - {"phase", "steps", "account", "preflight"})
    if unknown:
        raise ValueError("unknown option(s) %s (phase, steps, account, preflight)" % ", ".join(unknown))
    phase = args.get("phase")
    if not isinstance(phase, str) or not phase:
        raise ValueError("phase is %r, not a phase's name" % (phase,))
    steps = args.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ValueError("steps is %r, not a list of steps" % (steps,))
    checked = []
    seen = set()  # type: set
    for number, step in enumerate(steps, 1):
        where = "step %d" % number
        if not isinstance(step, dict):
            raise ValueError("%s is %r, not a dictionary" % (where, step))
        unknown = sorted(set(step) - set(STEP_KEYS))
        if unknown:
            raise ValueError("%s: unknown key(s) %s (%s)" % (where, ", ".join(unknown), ", ".join(STEP_KEYS)))
        module = step.get("module")
        if not isinstance(module, str) or module.count(".") != 2:
            raise ValueError("%s: module is %r, not a module's fully qualified name" % (where, module))
        where = "%s (%s)" % (where, module)
        step_args = step.get("args", {})
        if not isinstance(step_args, dict):
            raise ValueError("%s: args is %r, not a dictionary" % (where, step_args))
        facts = step.get("facts", {})
        if not isinstance(facts, dict):
            raise ValueError("%s: facts is %r, not a dictionary of variable: what it keeps" % (where, facts))
        for fact, keep in facts.items():
            _variable(fact, "%s: fact" % where)
            if fact in seen:
                raise ValueError("%s: fact %s is kept by an earlier step" % (where, fact))
            if keep not in KEEPS:
                raise ValueError("%s: fact %s keeps %r, not one of %s" % (where, fact, keep, ", ".join(KEEPS)))
            seen.add(fact)
        flags = {flag: _boolean(step.get(flag, False), "%s: %s" % (where, flag))
                 for flag in ("skip", "may_fail", "require_running")}
        checked.append(dict(flags, module=module, args=step_args, facts=dict(facts), **_waiting(step, where)))
    return checked


def _whole(value: Any, what: str) -> int:
    # a template gives a string on ansible-core before 2.19
    try:
        number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number < 0:
        raise ValueError("%s is %r, not a number of tries" % (what, value))
    return number


def _waiting(step: Dict[str, Any], where: str) -> Dict[str, Any]:
    """A step's until_empty, retries and delay: read again (at most RETRIES more times, DELAY seconds apart) while the
    subset UNTIL_EMPTY of its result still holds messages - verify's wait for released mail to leave the queues."""
    until_empty = step.get("until_empty")
    if until_empty is not None and (not isinstance(until_empty, str) or not until_empty):
        raise ValueError("%s: until_empty is %r, not a subset's name" % (where, until_empty))
    retries = _whole(step.get("retries", 0), "%s: retries" % where)
    if retries and until_empty is None:
        raise ValueError("%s: retries without until_empty - nothing to read again for" % where)
    delay = step.get("delay", 1)
    try:
        delay = float(delay) if not isinstance(delay, bool) else -1.0
    except (TypeError, ValueError):
        delay = -1.0
    if delay < 0:
        raise ValueError("%s: delay is %r, not a number of seconds" % (where, step.get("delay")))
    return {"until_empty": until_empty, "retries": retries, "delay": delay}


def unsettled(step: Dict[str, Any], result: Dict[str, Any]) -> int:
    """How many messages the subset STEP waits on (until_empty) still holds in its RESULT; 0 when it waits on none."""
    if step["until_empty"] is None:
        return 0
    subset = (result.get("subsets") or {}).get(step["until_empty"])
    if not isinstance(subset, dict) or "total" not in subset:
        raise ValueError("the step's result has no subset %s to wait on" % step["until_empty"])
    return int(subset["total"])


def _variable(name: Any, what: str) -> str:
    """NAME, a host variable's name a phase may set (never one of Ansible's own)."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("ansible_"):
        raise ValueError("%s %r is not a variable's name" % (what, name))
    return name


def _conclusion(args: Dict[str, Any], option: str, keys: Sequence[str]) -> Optional[Dict[str, Any]]:
    """The task's OPTION (account, preflight): a dictionary of KEYS only; None when not given."""
    value = args.get(option)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("%s is %r, not a dictionary" % (option, value))
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ValueError("%s: unknown key(s) %s (%s)" % (option, ", ".join(unknown), ", ".join(keys)))
    return value


def _step_number(number: Any, what: str, steps: List[Dict[str, Any]]) -> int:
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(steps):
        raise ValueError("%s is %r, not one of the steps (1-%d)" % (what, number, len(steps)))
    return number


def phase_account(args: Dict[str, Any], steps: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The runbook_phase task's ``account`` (verify's accounting of the run), checked; None when it has none.

    ``listing`` and ``deliveries`` name steps by number (from 1): the listing of the queue and its incident after the
    run (postfix_queue_info), the files at a delivery sink (ansible.builtin.find; optional); ``assess``, ``hold``,
    ``purge``, ``requeue`` the phases' results; the accounting is kept in the host variable ``fact``.
    """
    account = _conclusion(args, "account", ACCOUNT_KEYS)
    if account is None:
        return None
    checked = {"listing": _step_number(account.get("listing"), "account: listing", steps),
               "deliveries": None if account.get("deliveries") is None
               else _step_number(account["deliveries"], "account: deliveries", steps)}  # type: Dict[str, Any]
    fact = _variable(account.get("fact"), "account: fact")
    if any(fact in step["facts"] for step in steps):
        raise ValueError("account: fact %s is kept by a step" % fact)
    checked["fact"] = fact
    for key in ("assess", "hold", "purge", "requeue"):
        value = account.get(key)
        value = None if value in ("", "None") else value  # none, templated on ansible-core before 2.19
        if value is not None and not isinstance(value, dict):
            raise ValueError("account: %s is %r, not a phase's result" % (key, value))
        checked[key] = value
    try:  # as Ansible reads a boolean (verify_fail from extra vars: "no", "false", ...)
        checked["fail"] = boolean(account.get("fail", True), strict=True)
    except TypeError:
        raise ValueError("account: fail is %r, not a boolean" % (account.get("fail"),))
    return checked


def account(checked: Dict[str, Any], outcomes: List[Dict[str, Any]], check_mode: bool,
            host: str) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """Verify's accounting from the phase's step OUTCOMES: (the fact's value, why the phase fails or None).

    In check mode nothing was changed and the listing is not run: nothing to account for.
    """
    listing = outcomes[checked["listing"] - 1]
    if listing.get("skipped"):
        if check_mode:
            return {"ok": True, "check_mode": True, "problems": []}, None
        return None, ("the listing (step %d) was not run: nothing to account for on %s" % (checked["listing"], host))
    delivered = None
    if checked["deliveries"] is not None:
        found = outcomes[checked["deliveries"] - 1]
        if not found.get("skipped"):
            delivered = [item["mtime"] for item in found.get("files") or []]
    result = verify_accounting(listing, checked["assess"], checked["hold"], checked["purge"], checked["requeue"],
                               delivered)
    if result["ok"] or not checked["fail"]:
        return result, None
    return result, "ACCOUNTING FAILED on %s: %s" % (host, "; ".join(result["problems"]))


def kept(keep: str, result: Dict[str, Any]) -> Any:
    """What a fact keeps of its step's module RESULT (keep: one of KEEPS)."""
    if keep == "result":
        return {key: value for key, value in result.items() if key not in _NOT_KEPT}
    if keep == "incident":
        return result.get("incident")
    if keep == "instance":
        return dict(result["instance"], incident=result.get("incident"), postfix_version=result.get("postfix_version"))
    if keep == "assessment":
        return assessment(result)
    return phase_result(result, keep)


def step_facts(step: Dict[str, Any], result: Dict[str, Any]) -> Dict[str, Any]:
    """The facts STEP keeps of its RESULT; a step that failed (may_fail) or was skipped keeps its whole results only
    (as ``register`` would: a fact from an earlier run is never left standing)."""
    whole = bool(result.get("failed") or result.get("skipped"))
    return {fact: kept(keep, result) for fact, keep in step["facts"].items() if not whole or keep == "result"}


def not_running(result: Dict[str, Any], host: str) -> Optional[str]:
    """Why the runbook can not go on with a host whose Postfix is not running (None: it runs)."""
    instance = result.get("instance") or {}
    if instance.get("running"):
        return None
    return ("Postfix (%s) is not running on %s: the runbook needs it (the window and the fix reload it, requeued mail "
            "goes through pickup). Start it, or leave this host out. Nothing was changed here."
            % (instance.get("config_dir"), host))


def strip_omitted(value: Any, omit: Optional[str]) -> Any:
    """VALUE without the dictionary entries set to Ansible's omit placeholder (ansible-core before 2.19 leaves them)."""
    if not omit:
        return value
    if isinstance(value, dict):
        return {key: strip_omitted(item, omit) for key, item in value.items() if item != omit}
    if isinstance(value, list):
        return [strip_omitted(item, omit) for item in value if item != omit]
    return value


def phase_preflight(args: Dict[str, Any], steps: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The runbook_phase task's ``preflight`` (pre-flight's check of the run on this host), checked; None without it.

    ``values`` the run's variables {name: value}, ``phases`` the phases they are checked for, ``host`` the number
    (from 1) of the step that read the host's instance (postfix_queue_info list_queue=false, may_fail), ``paths``
    {variable: the number of the step (ansible.builtin.stat) that looked at that directory on the host}.
    """
    preflight = _conclusion(args, "preflight", PREFLIGHT_KEYS)
    if preflight is None:
        return None
    values, phases, paths = preflight.get("values"), preflight.get("phases"), preflight.get("paths", {})
    if not isinstance(values, dict):
        raise ValueError("preflight: values is %r, not a dictionary of the run's variables" % (values,))
    if not isinstance(phases, list) or not all(isinstance(phase, str) for phase in phases):
        raise ValueError("preflight: phases is %r, not a list of phases" % (phases,))
    if not isinstance(paths, dict):
        raise ValueError("preflight: paths is %r, not a dictionary {variable: step}" % (paths,))
    return {"values": values, "phases": phases, "host": _step_number(preflight.get("host"), "preflight: host", steps),
            "paths": {name: _step_number(number, "preflight: paths: %s" % name, steps)
                      for name, number in paths.items()}}


def preflight(checked: Dict[str, Any], outcomes: List[Dict[str, Any]], host: str) -> Optional[str]:
    """Why pre-flight refuses the run on HOST, from the phase's step OUTCOMES (None: admitted).

    A directory's step that did not run (skipped: nothing to look at) is not checked."""
    exists = {name: bool((outcomes[number - 1].get("stat") or {}).get("isdir"))
              for name, number in checked["paths"].items() if not outcomes[number - 1].get("skipped")}
    problems = _preflight.admission(checked["values"], checked["phases"], outcomes[checked["host"] - 1], exists)
    if not problems:
        return None
    return "Pre-flight refused the run on %s, nothing was changed - %s" % (host, " | ".join(problems))
