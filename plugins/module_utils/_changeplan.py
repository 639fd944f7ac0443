# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""An action's plan: fingerprints of selected messages, and applying exactly a reviewed plan.

PURE, stdlib only. A plan is made by a check-mode run (postfix_queue_action with return_plan): per
message, a fingerprint - queue_id, arrival_time, sender, the number and a sha256 of the sorted
recipient addresses still queued, and message_size. Applying the plan acts only on messages listed
again with the same fingerprint; anything else planned is reported as skipped_changed with the
reason: gone (delivered, deleted, requeued under a new ID) or changed (a short queue ID reused by
another message, recipients delivered since, ...). The runbook's plan, which carries one of these per
host for its purge, is the controller's (plugins/plugin_utils/_runbook_plan.py).
"""

from __future__ import absolute_import, division, print_function

import hashlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple


from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import Message, addresses
from ansible_collections.mailops.postfix.plugins.module_utils._values import plan_age_problem

FORMAT = 1
FIELDS = ("queue_id", "arrival_time", "sender", "recipients", "recipients_sha256", "message_size")


class PlanError(MailopsError):
    """A plan that cannot be applied here (stale, malformed, for another action or instance)."""


def fingerprint(message: Message) -> Dict[str, Any]:
    """The fingerprint of one listed message (a _queue message dict, parsed or compact)."""
    recipients = sorted(addresses(message))
    return {
        "queue_id": message["queue_id"],
        "arrival_time": message["arrival_time"],
        "sender": message["sender"],
        "recipients": len(recipients),
        "recipients_sha256": hashlib.sha256("\n".join(recipients).encode("utf-8")).hexdigest(),
        "message_size": message["message_size"],
    }


def host_plan(action: str, selection: Dict[str, Any], postfix_version: str, instance: Dict[str, Any], created: float,
              messages: Iterable[Message], content: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """One host's plan: what a check-mode run selected, fingerprinted, sorted by queue ID.

    ``content`` (a selection with origin or content options): {"tier": what was read, "headers": the headers its
    options looked at, "fingerprints": {queue_id: _content.fingerprint}}; each message's entry then carries its
    ``content_sha256``, and applying the plan reads the queue file again and skips a message whose origin or
    selected headers changed.
    """
    entries = []
    for message in messages:
        entry = fingerprint(message)
        if content:
            entry["content_sha256"] = content["fingerprints"][message["queue_id"]]
        entries.append(entry)
    plan = {
        "format": FORMAT,
        "action": action,
        "selection": selection,
        "postfix_version": postfix_version,
        "instance": {"name": instance["name"], "config_dir": instance["config_dir"]},
        "created": int(created),
        "messages": sorted(entries, key=lambda entry: entry["queue_id"]),
    }
    if content:
        plan["content"] = {"tier": content["tier"], "headers": sorted(content["headers"])}
    return plan


def validate(part: Any, action: str, config_dir: str, now: float, max_age: float) -> None:
    """Refuse a host plan that is malformed, for another action or instance, or older than max_age."""
    if not isinstance(part, dict) or part.get("format") != FORMAT or not isinstance(part.get("messages"), list):
        raise PlanError("not a plan of format %d (make one with a check-mode run and return_plan)" % FORMAT)
    content = part.get("content")
    fields = FIELDS + (("content_sha256",) if content else ())
    for entry in part["messages"]:
        if not isinstance(entry, dict) or any(field not in entry for field in fields):
            raise PlanError("a planned message lacks one of %s: %r" % (", ".join(fields), entry))
    if content is not None and (not isinstance(content, dict) or content.get("tier") not in ("origin", "headers", "body")
                                or not isinstance(content.get("headers"), list)):
        raise PlanError("the plan's content reading is not one this collection makes: %r" % (content,))
    if part.get("action") != action:
        raise PlanError("the plan is for action=%s, not %s" % (part.get("action"), action))
    planned_dir = (part.get("instance") or {}).get("config_dir")
    if planned_dir != config_dir:
        raise PlanError("the plan is for the instance at %s, not %s" % (planned_dir, config_dir))
    created = part.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise PlanError("the plan has no creation time")
    problem = plan_age_problem(created, now, max_age, "plan_max_age")
    if problem:
        raise PlanError("the plan " + problem)


def match(part: Dict[str, Any], listed: Iterable[Message]) -> Tuple[List[Message], List[Dict[str, Any]]]:
    """Split the listed messages by the plan: (messages to act on, skipped_changed entries).

    ``listed`` are the messages listed now (unique). A planned ID listed with the same fingerprint is
    acted on; with another fingerprint it is skipped as changed (each differing field named); a
    planned ID not listed is skipped as gone. Messages the plan does not name are never touched. A plan with
    content fingerprints is matched on them afterwards (match_content), once the queue files are read.
    """
    planned = {entry["queue_id"]: entry for entry in part["messages"]}
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


def match_content(part: Dict[str, Any], chosen: List[Message],
                  read: Callable[[List[Message]], Iterable[Tuple[Message, Optional[str]]]]
                  ) -> Tuple[List[Message], List[Dict[str, Any]]]:
    """Of the messages CHOSEN by match(), those whose queue file still gives the planned content fingerprint.

    ``read(messages)`` yields (message, content fingerprint or None when gone). Returns (messages to act on,
    skipped_changed entries)."""
    planned = {entry["queue_id"]: entry.get("content_sha256") for entry in part["messages"]}
    kept, skipped = [], []
    for message, digest in read(chosen):
        if digest is None:
            skipped.append({"queue_id": message["queue_id"], "reason": "gone since the plan (delivered, deleted or requeued)"})
        elif digest != planned[message["queue_id"]]:
            skipped.append({"queue_id": message["queue_id"],
                            "reason": "changed since the plan: its origin or the headers the plan selected on"})
        else:
            kept.append(message)
    return kept, skipped
