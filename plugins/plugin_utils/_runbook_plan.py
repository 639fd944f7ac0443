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
into the fleet plan, whose ID is a hash of its content; each host keeps its own part on its own disk,
so that an apply run on another controller, given only the ID, finds everything it needs there: what
to purge (exactly those messages, skipping any that changed), and the inputs that were approved.
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import time

FORMAT = 2
KIND = "mailops.postfix runbook plan"
# The variables whose effective values the plan records and an apply run takes from it: what was approved.
INPUTS = ("mailops_junk", "assess_junk", "hold_junk", "purge_selection", "requeue_exclude", "verify_junk",
          "fix_block_senders", "fix_block_clients", "fix_reject_action", "fix_map_type", "hold_window",
          "purge_max_messages", "purge_archive_dir", "requeue_release_quarantine")
HELD_QUEUES = ("incoming", "active", "deferred")


class PlanError(ValueError):
    """Not a plan of this collection, or not one this run can apply."""


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def host_part(host, assessment, action_plan):
    """One host's part: the queue as assessed, what hold, purge and requeue will do there.

    ``assessment`` is the host's assess_result; ``action_plan`` the check-mode delete's plan (format 1,
    its fingerprints) or None when the host has no junk.
    """
    summary = assessment["summary"]
    by_queue = dict((queue, counts["messages"]) for queue, counts in summary.get("by_queue", {}).items())
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
    }


def window_rule(inputs):
    """What the run will do with mail that arrives during the incident window, for the approver."""
    if inputs.get("hold_window") is False:
        held = ("No incident window (hold_window false): mail accepted after the hold is not held; the hold holds "
                "what is queued then.")
    else:
        held = ("From the hold phase until the requeue phase every new message is held as it arrives (smtpd, "
                "sendmail, qmqpd, Postfix's own bounces).")
    ceiling = inputs.get("purge_max_messages")
    return ("%s Then what matches the junk %s is purged, archived first (%s); everything else is released with "
            "postsuper -r. The junk is never released. The host's earlier hold is never touched." % (
                held, _canonical(inputs.get("purge_selection") or inputs.get("mailops_junk") or {}),
                "at most %d messages in all" % ceiling if ceiling else "no count limit on what arrives in the window"))


def fleet_plan(parts, inputs, created, operator, title="Postfix incident plan", fix_tasks=None):
    """The fleet's plan: every host's part, the inputs, the rule for the window; its ID is a hash of all that."""
    hosts = dict((host, part) for host, part in sorted(parts.items()) if part)
    plan = {
        "format": FORMAT,
        "kind": KIND,
        "title": title,
        "created": int(created),
        "operator": operator,
        "inputs": dict((name, inputs.get(name)) for name in INPUTS),
        "fix_tasks": fix_tasks,
        "window_rule": window_rule(inputs),
        "hosts": hosts,
        "hosts_without_plan": sorted(host for host, part in parts.items() if not part),
        "totals": dict([("hosts", len(hosts))] + [
            (phase, sum(part[phase]["count"] for part in hosts.values())) for phase in ("hold", "purge", "requeue")]
            + [("quarantine", sum(part["quarantine"] for part in hosts.values()))]),
    }
    plan["plan_id"] = hashlib.sha256(_canonical(dict((key, plan[key]) for key in (
        "created", "inputs", "fix_tasks", "hosts"))).encode("utf-8")).hexdigest()[:16]
    for part in hosts.values():
        if part["purge"]["plan"]:
            part["purge"]["plan"]["plan_id"] = plan["plan_id"]
    return plan


def part_for(plan, host):
    """HOST's part of the plan, self-contained: what its own disk keeps for an apply run."""
    if not isinstance(plan, dict) or plan.get("format") != FORMAT or plan.get("kind") != KIND:
        raise PlanError("not a %s of format %d" % (KIND, FORMAT))
    part = plan["hosts"].get(host)
    if part is None:
        return None
    return dict(part, format=FORMAT, kind=KIND, plan_id=plan["plan_id"], created=plan["created"],
                operator=plan["operator"], inputs=plan["inputs"], fix_tasks=plan["fix_tasks"],
                window_rule=plan["window_rule"], title=plan["title"])


def check_part(part, plan_id, host, config_dir, now, max_age, fix_tasks=None):
    """Problems of applying this part here and now, each naming what to change (an empty list: apply it).

    ``fix_tasks`` is {"path", "sha256"} of the fix tasks file the apply run would use (None: none).
    """
    if not isinstance(part, dict) or part.get("format") != FORMAT or part.get("kind") != KIND:
        return ["mailops_plan_id: the plan file kept on %s for %s is not a %s of format %d"
                % (host, plan_id, KIND, FORMAT)]
    problems = []
    if part.get("plan_id") != plan_id:
        problems.append("mailops_plan_id: the plan kept on %s under %s says it is %s" % (host, plan_id, part.get("plan_id")))
    if (part.get("instance") or {}).get("config_dir") != config_dir:
        problems.append("mailops_plan_id: plan %s is for the instance at %s, not %s"
                        % (plan_id, (part.get("instance") or {}).get("config_dir"), config_dir))
    age = now - part.get("created", 0)
    if age > max_age:
        problems.append("mailops_plan_id: plan %s is %s old, older than mailops_plan_max_age (%s): it is stale - "
                        "make a new plan" % (plan_id, _duration(age), _duration(max_age)))
    elif age < -300:
        problems.append("mailops_plan_id: plan %s was made %s in the future: check the clocks" % (plan_id, _duration(-age)))
    planned = part.get("fix_tasks")
    if planned and not fix_tasks:
        problems.append("fix_tasks_file: the approved plan runs %s (sha256 %s), which this controller does not have"
                        % (planned["path"], planned["sha256"][:12]))
    elif (planned or {}).get("sha256") != (fix_tasks or {}).get("sha256"):
        problems.append("fix_tasks_file: %s is not the tasks file the plan approved (%s)" % (
            (fix_tasks or {}).get("path"), "sha256 %s" % planned["sha256"][:12] if planned else "none"))
    return problems


def overridden(approved, current):
    """The inputs whose value in this run (``current``) is not the approved one: something overrides the plan."""
    return sorted(name for name, value in approved.items() if _canonical(current.get(name)) != _canonical(value))


def _duration(seconds):
    seconds = int(seconds)
    if seconds >= 3600:
        return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
    return "%dm%02ds" % (seconds // 60, seconds % 60)


def artifact(plan, kept):
    """The plan's compact form for set_stats (mailops_plan): its ID, where it is kept, the counts, the inputs."""
    return {
        "id": plan["plan_id"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(plan["created"])),
        "operator": plan["operator"],
        "kept": kept,
        "hosts": dict((host, {"hold": part["hold"]["count"], "purge": part["purge"]["count"],
                              "requeue": part["requeue"]["count"], "quarantine": part["quarantine"]})
                      for host, part in plan["hosts"].items()),
        "hosts_without_plan": plan["hosts_without_plan"],
        "totals": plan["totals"],
        "inputs": plan["inputs"],
        "window_rule": plan["window_rule"],
    }


def render_markdown(plan, limit=200):
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
