# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""Change-managed plans: fingerprints of selected messages, and applying exactly a reviewed plan.

PURE, stdlib only. A plan is made by a check-mode run (postfix_queue_action with return_plan); its
host part lists, per message, a fingerprint: queue_id, arrival_time, sender, the number and a sha256
of the sorted recipient addresses still queued, and message_size. Applying the plan acts only on
messages listed again with the same fingerprint; anything else planned is reported as
skipped_changed with the reason: gone (delivered, deleted, requeued under a new ID) or changed (a
short queue ID reused by another message, recipients delivered since, ...).
"""

from __future__ import absolute_import, division, print_function

import hashlib
import json
import time

FORMAT = 1
FIELDS = ("queue_id", "arrival_time", "sender", "recipients", "recipients_sha256", "message_size")


class PlanError(Exception):
    """A plan that cannot be applied here (stale, malformed, for another action or instance)."""


def fingerprint(message):
    """The fingerprint of one listed message (a _queue message dict)."""
    addresses = sorted(recipient["address"] for recipient in message["recipients"])
    return {
        "queue_id": message["queue_id"],
        "arrival_time": message["arrival_time"],
        "sender": message["sender"],
        "recipients": len(addresses),
        "recipients_sha256": hashlib.sha256("\n".join(addresses).encode("utf-8")).hexdigest(),
        "message_size": message["message_size"],
    }


def host_plan(action, selection, postfix_version, instance, created, messages):
    """One host's plan: what a check-mode run selected, fingerprinted, sorted by queue ID."""
    return {
        "format": FORMAT,
        "action": action,
        "selection": selection,
        "postfix_version": postfix_version,
        "instance": {"name": instance["name"], "config_dir": instance["config_dir"]},
        "created": int(created),
        "messages": sorted((fingerprint(message) for message in messages), key=lambda entry: entry["queue_id"]),
    }


def plan_id(plan):
    """A stable ID of a plan's content (what it selects, for which action, made when)."""
    canonical = json.dumps({key: plan.get(key) for key in ("action", "selection", "created", "hosts", "messages")},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def validate(part, action, config_dir, now, max_age):
    """Refuse a host plan that is malformed, for another action or instance, or older than max_age."""
    if not isinstance(part, dict) or part.get("format") != FORMAT or not isinstance(part.get("messages"), list):
        raise PlanError("not a plan of format %d (make one with a check-mode run and return_plan)" % FORMAT)
    for entry in part["messages"]:
        if not isinstance(entry, dict) or any(field not in entry for field in FIELDS):
            raise PlanError("a planned message lacks one of %s: %r" % (", ".join(FIELDS), entry))
    if part.get("action") != action:
        raise PlanError("the plan is for action=%s, not %s" % (part.get("action"), action))
    planned_dir = (part.get("instance") or {}).get("config_dir")
    if planned_dir != config_dir:
        raise PlanError("the plan is for the instance at %s, not %s" % (planned_dir, config_dir))
    created = part.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise PlanError("the plan has no creation time")
    age = now - created
    if age > max_age:
        raise PlanError("the plan is %d s old, older than plan_max_age (%d s): make a new one" % (age, max_age))
    if age < -300:
        raise PlanError("the plan was made %d s in the future: check the clocks" % -age)


def match(part, listed):
    """Split the listed messages by the plan: (messages to act on, skipped_changed entries).

    ``listed`` are the messages listed now (unique). A planned ID listed with the same fingerprint is
    acted on; with another fingerprint it is skipped as changed (each differing field named); a
    planned ID not listed is skipped as gone. Messages the plan does not name are never touched.
    """
    planned = dict((entry["queue_id"], entry) for entry in part["messages"])
    chosen, skipped, seen = [], [], set()
    for message in listed:
        entry = planned.get(message["queue_id"])
        if entry is None:
            continue
        seen.add(message["queue_id"])
        now = fingerprint(message)
        differing = [field for field in FIELDS if now[field] != entry[field]]
        if differing:
            skipped.append({"queue_id": message["queue_id"], "reason": "changed since the plan: %s"
                            % ", ".join(differing)})
        else:
            chosen.append(message)
    for queue_id in sorted(set(planned) - seen):
        skipped.append({"queue_id": queue_id, "reason": "gone since the plan (delivered, deleted or requeued)"})
    return chosen, sorted(skipped, key=lambda entry: entry["queue_id"])


# --- the fleet's plan file (controller side) ------------------------------------------------

def fleet_plan(parts, created, operator, title="Postfix queue plan"):
    """One plan for the fleet from each host's part (hosts without a part are listed as such)."""
    hosts = dict((host, part) for host, part in sorted(parts.items()) if part)
    actions = sorted(set(part["action"] for part in hosts.values()))
    plan = {
        "format": FORMAT,
        "title": title,
        "created": int(created),
        "operator": operator,
        "action": actions[0] if len(actions) == 1 else actions,
        "hosts": hosts,
        "hosts_without_plan": sorted(host for host, part in parts.items() if not part),
        "totals": {"hosts": len(hosts), "messages": sum(len(part["messages"]) for part in hosts.values())},
    }
    plan["plan_id"] = plan_id(plan)
    return plan


def part_for(plan, host):
    """A host's part of a fleet plan, carrying the plan's ID; None when the plan has none for it."""
    if not isinstance(plan, dict) or plan.get("format") != FORMAT or not isinstance(plan.get("hosts"), dict):
        raise PlanError("not a fleet plan of format %d" % FORMAT)
    part = plan["hosts"].get(host)
    if part is None:
        return None
    return dict(part, plan_id=plan.get("plan_id"))


def render_markdown(plan):
    """The plan for a change ticket: what will happen, per host, and the messages it names."""
    lines = ["# %s" % plan["title"], "",
             "Plan `%s`, made %s by %s: **%s** on %d messages on %d hosts." % (
                 plan["plan_id"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(plan["created"])),
                 plan["operator"], plan["action"], plan["totals"]["messages"], plan["totals"]["hosts"]), ""]
    lines += ["| host | instance | Postfix | selection | messages |", "|---|---|---|---|---|"]
    for host, part in sorted(plan["hosts"].items()):
        selection = ", ".join("%s=%s" % (key, json.dumps(value)) for key, value in sorted(part["selection"].items()))
        lines.append("| %s | %s | %s | %s | %d |" % (
            host, part["instance"]["config_dir"], part["postfix_version"], selection.replace("|", "\\|") or "-",
            len(part["messages"])))
    if plan["hosts_without_plan"]:
        lines += ["", "No plan (unreachable or failed): " + ", ".join(plan["hosts_without_plan"])]
    for host, part in sorted(plan["hosts"].items()):
        lines += ["", "## %s" % host, "", "| queue ID | arrival | sender | recipients | size |", "|---|---|---|---|---|"]
        for entry in part["messages"][:200]:
            lines.append("| %s | %s | %s | %d | %d |" % (
                entry["queue_id"], entry["arrival_time"], (entry["sender"] or "").replace("|", "\\|"),
                entry["recipients"], entry["message_size"]))
        if len(part["messages"]) > 200:
            lines.append("| ... %d more in the JSON plan | | | | |" % (len(part["messages"]) - 200))
    lines += ["", "Applying this plan acts only on messages still queued with the same fingerprint (queue ID, "
              "arrival time, sender, recipients, size); anything else is skipped and reported.", ""]
    return "\n".join(lines)
