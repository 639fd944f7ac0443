# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The runbook's change plan: one plan for the whole runbook, reviewed once, applied by ID anywhere.

Controller-side, PURE. A plan run assesses every host and, per host, fingerprints what the purge
would delete (postfix_queue_action in check mode with return_plan: a plan of the action, format 1).
This module merges the hosts' parts with the run's inputs (the junk, the blocks, the window, ...)
into the fleet plan; each host keeps its own part on its own disk, so that an apply run on another
controller, given only the ID, finds everything it needs there.

**A host never decides what was approved.** The plan's ID is a hash of its *header*: the inputs, the
fix tasks file's checksum, the creation time, the operator, the rule for the window, and a sha256 of
every host's part. A host keeps the header and its own part; an apply run recomputes the ID from the
header it reads and the part's digest from the part, and refuses any difference - an edited input, an
added variable, a part copied from another host or written for another instance. Only the runbook's
own inputs (INPUTS) are ever taken from a plan, and they are checked again as pre-flight checks them.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import time
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._values import plan_age_problem
from ansible_collections.mailops.postfix.plugins.plugin_utils._report import origins_read

FORMAT = 3
KIND = "mailops.postfix runbook plan"
# Hex digits of the sha256 that make a plan's ID (128 bits: no second plan with the same ID can be made).
ID_LENGTH = 32
# The variables whose effective values the plan records and an apply run takes from it: what was approved.
INPUTS = ("mailops_junk", "assess_junk", "hold_junk", "purge_junk", "requeue_junk", "verify_junk",
          "fix_block_senders", "fix_block_clients", "fix_block_sasl_users", "fix_block_local_users", "fix_reject_action",
          "fix_map_type", "hold_window", "purge_max_messages", "purge_archive_dir", "requeue_release_quarantine",
          "requeue_guard_max_per_source")
HELD_QUEUES = ("incoming", "active", "deferred")
# What the ID covers besides the hosts' parts (their digests are in the header too).
HEADER_KEYS = ("format", "kind", "title", "created", "operator", "inputs", "fix_tasks", "window_rule", "digests")


class PlanError(MailopsError):
    """Not a plan of this collection, or not one this run can apply."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _sha256(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode("utf-8")).hexdigest()


def part_digest(part: Dict[str, Any]) -> str:
    """The sha256 of one host's part, as the plan's header records it."""
    return _sha256(part)


def plan_id_of(header: Dict[str, Any]) -> str:
    """The ID of a plan: the first ID_LENGTH hex digits of the sha256 of its header (HEADER_KEYS only)."""
    return _sha256({key: header.get(key) for key in HEADER_KEYS})[:ID_LENGTH]


def host_part(host: str, assessment: Dict[str, Any], action_plan: Dict[str, Any]) -> Dict[str, Any]:
    """One host's part: the queue as assessed, what hold, purge and requeue will do there.

    ``assessment`` is the host's assess_result; ``action_plan`` the check-mode delete's plan (format 1,
    its fingerprints) or None when the host has no junk.
    """
    summary = assessment["summary"]
    by_queue = {queue: counts["messages"] for queue, counts in summary.get("by_queue", {}).items()}
    to_hold = sum(by_queue.get(queue, 0) for queue in HELD_QUEUES)
    purge = action_plan or {"messages": []}
    return {
        "host": host,
        "instance": {"name": assessment["instance"]["name"], "config_dir": assessment["instance"]["config_dir"]},
        "postfix_version": assessment["postfix_version"],
        "assessed": assessment["time"],
        "before": {"total": summary["total"], "by_queue": by_queue},
        "quarantine": assessment.get("on_hold_before", 0),
        "hold": {"count": to_hold},
        "purge": {"count": len(purge["messages"]), "plan": action_plan},
        "requeue": {"count": to_hold - len(purge["messages"])},
        "affected": bool(assessment.get("affected", True)),
        "origins": assessment.get("origins"),
    }


def window_rule(inputs: Dict[str, Any]) -> str:
    """What the run will do with mail that arrives during the incident window, for the approver."""
    if inputs.get("hold_window") is False:
        held = ("No incident window (hold_window false): mail accepted after the hold is not held; the hold holds "
                "what is queued then.")
    else:
        held = ("From the hold phase until the requeue phase every new message is held as it arrives (smtpd, "
                "sendmail, qmqpd, Postfix's own bounces).")
    ceiling = inputs.get("purge_max_messages")
    guard = inputs.get("requeue_guard_max_per_source")
    return ("%s Then what matches the junk %s is purged, archived first (%s); everything else is released with "
            "postsuper -r%s. The junk is never released. The host's earlier hold is never touched." % (
                held, _canonical(inputs.get("purge_junk") or inputs.get("mailops_junk") or {}),
                "at most %d messages in all" % ceiling if ceiling else "no count limit on what arrives in the window",
                ", except that a source (SASL login, client, local uid) not in the junk that sent more than %d messages "
                "during the window stays on hold, named in the report" % guard if guard else ""))


def fleet_plan(parts: Dict[str, Dict[str, Any]], inputs: Dict[str, Any], created: float, operator: str,
               title: str = "Postfix incident plan", fix_tasks: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The fleet's plan: its header (what its ID covers, every host part's digest included), the parts, totals."""
    hosts = {host: part for host, part in sorted(parts.items()) if part}
    approved = {name: inputs.get(name) for name in INPUTS}
    header = {
        "format": FORMAT,
        "kind": KIND,
        "title": title,
        "created": int(created),
        "operator": operator,
        "inputs": approved,
        "fix_tasks": fix_tasks,
        "window_rule": window_rule(approved),
        "digests": {host: part_digest(part) for host, part in hosts.items()},
    }
    plan = dict(header)
    plan.update({
        "plan_id": plan_id_of(header),
        "hosts": hosts,
        "hosts_without_plan": sorted(host for host, part in parts.items() if not part),
        "totals": dict([("hosts", len(hosts))] + [
            (phase, sum(part[phase]["count"] for part in hosts.values())) for phase in ("hold", "purge", "requeue")]
            + [("quarantine", sum(part["quarantine"] for part in hosts.values()))]),
    })
    return plan


def _check_kind(plan: Any, what: str) -> None:
    if not isinstance(plan, dict) or plan.get("format") != FORMAT or plan.get("kind") != KIND:
        raise PlanError("%s is not a %s of format %d (a plan made by another release: make a new plan)"
                        % (what, KIND, FORMAT))


def part_for(plan: Dict[str, Any], host: str) -> Optional[Dict[str, Any]]:
    """HOST's part of the plan as its own disk keeps it: the plan's header and the host's part, or None."""
    _check_kind(plan, "the plan")
    part = plan["hosts"].get(host)
    if part is None:
        return None
    return {"plan_id": plan["plan_id"], "header": {key: plan[key] for key in HEADER_KEYS}, "part": part}


def verified_part(kept: Any, plan_id: str, host: str, instance: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The header and part of a kept part, once proven to be HOST's part of the approved plan PLAN_ID.

    ``instance`` is {"name", "config_dir"} of the instance the apply run acts on. Raises PlanError naming
    what does not fit: nothing a host hands back is used unless the ID computed from it is the one approved.
    """
    if not isinstance(kept, dict) or not isinstance(kept.get("header"), dict) or not isinstance(kept.get("part"), dict):
        raise PlanError("the plan kept on %s for %s is not a plan part of this collection" % (host, plan_id))
    header, part = kept["header"], kept["part"]
    _check_kind(header, "the plan kept on %s for %s" % (host, plan_id))
    if set(header) - set(HEADER_KEYS):
        raise PlanError("the plan kept on %s for %s has keys no plan has (%s): it was altered"
                        % (host, plan_id, ", ".join(sorted(set(header) - set(HEADER_KEYS)))))
    computed = plan_id_of(header)
    if computed != plan_id:
        raise PlanError("the plan kept on %s under %s hashes to %s, not to the approved ID: it was altered "
                        "(or made by another run); nothing of it is used" % (host, plan_id, computed))
    digests = header.get("digests")
    if not isinstance(digests, dict) or host not in digests:
        raise PlanError("plan %s has no part for %s: a plan made for other hosts" % (plan_id, host))
    if part.get("host") != host or part_digest(part) != digests[host]:
        raise PlanError("the part kept on %s is not %s's part of plan %s (%s): it was altered or copied from "
                        "another host" % (host, host, plan_id, "made for %s" % part.get("host")
                                          if part.get("host") != host else "its digest differs"))
    planned = part.get("instance") or {}
    if (planned.get("name"), planned.get("config_dir")) != (instance.get("name"), instance.get("config_dir")):
        raise PlanError("plan %s is for the instance %s at %s, not %s at %s" % (
            plan_id, planned.get("name"), planned.get("config_dir"), instance.get("name"), instance.get("config_dir")))
    unknown = sorted(set(header["inputs"]) - set(INPUTS)) if isinstance(header.get("inputs"), dict) else ["(not a dict)"]
    if unknown:
        raise PlanError("plan %s approves variables that are not runbook inputs (%s): refused" % (plan_id, ", ".join(unknown)))
    return header, part


def applied(kept: Any, plan_id: str, host: str, instance: Dict[str, Any]) -> Dict[str, Any]:
    """What an apply run takes from HOST's verified part: the plan's ID, creation time, inputs (INPUTS only), fix
    tasks, and the host's purge and whether it is affected."""
    header, part = verified_part(kept, plan_id, host, instance)
    purge_plan = part["purge"]["plan"]
    return {
        "plan_id": plan_id,
        "created": header["created"],
        "inputs": {name: header["inputs"][name] for name in INPUTS if name in header["inputs"]},
        "fix_tasks": header["fix_tasks"],
        "affected": bool(part.get("affected", True)),
        "purge": {"count": part["purge"]["count"],
                  "fingerprints": dict(purge_plan, plan_id=plan_id) if purge_plan else None},
    }


def check_part(kept: Any, plan_id: str, host: str, instance: Dict[str, Any], now: float, max_age: Any,
               fix_tasks: Optional[Dict[str, Any]] = None) -> List[str]:
    """Problems of applying this kept part here and now, each naming what to change (an empty list: apply it).

    ``instance`` is {"name", "config_dir"} of the instance here; ``fix_tasks`` is {"path", "sha256"} of the fix
    tasks file the apply run would use (None: none).
    """
    try:
        header, _part = verified_part(kept, plan_id, host, instance)
    except PlanError as exc:
        return ["mailops_plan_id: %s" % exc]
    problems = []
    age_problem = plan_age_problem(header.get("created", 0), now, max_age, "mailops_plan_max_age")
    if age_problem:
        problems.append("mailops_plan_id: plan %s %s" % (plan_id, age_problem))
    planned = header.get("fix_tasks")
    if planned and not fix_tasks:
        problems.append("fix_tasks_file: the approved plan runs %s (sha256 %s), which this controller does not have"
                        % (planned["path"], planned["sha256"][:12]))
    elif (planned or {}).get("sha256") != (fix_tasks or {}).get("sha256"):
        problems.append("fix_tasks_file: %s is not the tasks file the plan approved (%s)" % (
            (fix_tasks or {}).get("path"), "sha256 %s" % planned["sha256"][:12] if planned else "none"))
    return problems


def overridden(approved: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """The inputs whose value in this run (``current``) is not the approved one: something overrides the plan."""
    return sorted(name for name, value in approved.items() if _canonical(current.get(name)) != _canonical(value))


def _rows(rows: Optional[List[Dict[str, Any]]], label: str, limit: int = 3) -> str:
    return ", ".join("%s (%d)" % (str(row[label]).replace("|", "\\|"), row["messages"]) for row in (rows or [])[:limit]) or "-"


def artifact(plan: Dict[str, Any], kept: str) -> Dict[str, Any]:
    """The plan's compact form for set_stats (mailops_plan): its ID, where it is kept, the counts, the inputs."""
    return {
        "id": plan["plan_id"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(plan["created"])),
        "operator": plan["operator"],
        "kept": kept,
        "hosts": {host: {"hold": part["hold"]["count"], "purge": part["purge"]["count"],
                         "requeue": part["requeue"]["count"], "quarantine": part["quarantine"]}
                  for host, part in plan["hosts"].items()},
        "hosts_without_plan": plan["hosts_without_plan"],
        "totals": plan["totals"],
        "inputs": plan["inputs"],
        "window_rule": plan["window_rule"],
    }


def render_markdown(plan: Dict[str, Any], limit: int = 200) -> str:
    """The plan for a change ticket: what will happen, per host, and the messages the purge names."""
    totals = plan["totals"]
    lines = ["# %s" % plan["title"], "",
             "Plan `%s`, made %s by %s, over %d hosts: hold %d messages, purge %d of them (archived first), "
             "requeue %d; the earlier hold (%d messages) is left alone." % (
                 plan["plan_id"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(plan["created"])), plan["operator"],
                 totals["hosts"], totals["hold"], totals["purge"], totals["requeue"], totals["quarantine"]), "",
             "**Mail that arrives during the run:** %s" % plan["window_rule"], "",
             "Approve by giving this ID to the apply run: `mailops_mode=apply mailops_plan_id=%s`." % plan["plan_id"],
             "", "## Inputs", ""]
    for name in INPUTS:
        lines.append("- `%s`: `%s`" % (name, _canonical(plan["inputs"].get(name))))
    if plan.get("fix_tasks"):
        lines.append("- `fix_tasks_file`: `%s` (sha256 `%s`)" % (plan["fix_tasks"]["path"], plan["fix_tasks"]["sha256"]))
    lines += ["", "## Per host", "", "| host | instance | Postfix | before | earlier hold | hold | purge | requeue |",
              "|---|---|---|---|---|---|---|---|"]
    for host, part in sorted(plan["hosts"].items()):
        lines.append("| %s | %s | %s | %d | %d | %d | %d | %d |" % (
            host, part["instance"]["config_dir"], part["postfix_version"], part["before"]["total"],
            part["quarantine"], part["hold"]["count"], part["purge"]["count"], part["requeue"]["count"]))
    if plan["hosts_without_plan"]:
        lines += ["", "No plan (unreachable or failed): " + ", ".join(plan["hosts_without_plan"])]
    origins = [(host, part["origins"]) for host, part in sorted(plan["hosts"].items()) if part.get("origins")]
    if origins:
        lines += ["", "## Who is sending (as assessed)", "", "| host | SASL logins | original clients | local uids |",
                  "|---|---|---|---|"]
        for host, entry in origins:
            lines.append("| %s | %s | %s | %s |" % (
                host, _rows(entry.get("top_sasl_usernames"), "sasl_username"),
                _rows(entry.get("top_clients"), "client_address"), _rows(entry.get("top_local_uids"), "local_uid")))
        sampled = [(host, entry) for host, entry in origins if entry.get("sampled_from") is not None]
        if sampled:
            lines += [""] + ["%s: %s." % (host, origins_read(entry)) for host, entry in sampled]
    for host, part in sorted(plan["hosts"].items()):
        messages = (part["purge"]["plan"] or {}).get("messages") or []
        if not messages:
            continue
        lines += ["", "## %s: the messages the purge deletes" % host, "",
                  "| queue ID | arrival | sender | recipients | size |", "|---|---|---|---|---|"]
        for entry in messages[:limit]:
            lines.append("| %s | %s | %s | %d | %d |" % (
                entry["queue_id"], entry["arrival_time"], (entry["sender"] or "").replace("|", "\\|"),
                entry["recipients"], entry["message_size"]))
        if len(messages) > limit:
            lines.append("| ... %d more in plan.json | | | | |" % (len(messages) - limit))
    lines += ["", "Applying this plan purges only messages still queued with the same fingerprint (queue ID, "
              "arrival time, sender, recipients, size); anything else is skipped and reported.", ""]
    return "\n".join(lines)
