# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""An incident on one Postfix instance: its window and its ledger, kept on the host.

The **window** holds every new message from the moment it opens until the runbook ends it: a
regexp table whose only rule is ``/^/ HOLD``, put LAST in ``header_checks`` (so the host's own
header checks still decide first: a REJECT still rejects), with ``bounce`` and ``notify`` added to
``internal_mail_filter_classes`` (so Postfix's own bounces and notices are held too). cleanup(8)
applies header_checks to mail from every entry point (smtpd, pickup for sendmail, qmqpd), so the
mail is on hold before any delivery agent sees it. Ending the window removes exactly what opening
it added: a parameter nobody else changed meanwhile gets its original value back (or is unset
again, if main.cf did not set it).

The **ledger** is a JSON file per instance (``<state_dir>/<instance>/incident.json``, mode 0600):
the incident's ID, when the window opened, the host's earlier hold (the *quarantine*: what was on
hold before the incident, never released or purged by the runbook), the IDs the runbook held,
those it saw arrive in the window, purged and released. Every phase reads it on the host itself,
so a rerun after a failure, or a later job on another controller, continues the same incident.

PURE decisions (values to set and restore, what a listing means for the ledger) and the ledger's
file; the Postfix commands (postconf, postfix reload) run in _postfix_cli.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import socket
import tempfile
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._queue import Message
from ansible_collections.mailops.postfix.plugins.module_utils._values import INCIDENT_ID_RULE, is_incident_id, split_list

FORMAT = 1
# The incident's ledger on the host (see new_ledger): a JSON object.
Ledger = Dict[str, Any]
LEDGER = "incident.json"
DEFAULT_STATE_DIR = "/var/lib/mailops-postfix"
WINDOW_TABLE = "mailops_incident_window.regexp"
# The parameters the window changes, and how: header_checks gets our table appended, the
# internal mail classes get bounce and notify added.
WINDOW_PARAMETERS = ("header_checks", "internal_mail_filter_classes")
INTERNAL_CLASSES = ("bounce", "notify")


class IncidentError(MailopsError):
    """The incident's state does not allow what was asked; nothing was changed."""


def check_incident_id(value: Any) -> str:
    if not is_incident_id(value):
        raise IncidentError("incident id %r: %s" % (value, INCIDENT_ID_RULE))
    return value


def window_rule(incident_id: str) -> str:
    return "/^/ HOLD mailops.postfix incident window %s\n" % incident_id


def window_values(current: Dict[str, str], table: str) -> Dict[str, str]:
    """{parameter: new value} that opens the window, given {parameter: current value}.

    Parameters already in the window's state are left out (opening twice changes nothing).
    """
    wanted = {}
    entry = "regexp:" + table
    checks = split_list(current.get("header_checks", ""))
    if entry not in checks:
        wanted["header_checks"] = ", ".join(checks + [entry])
    classes = split_list(current.get("internal_mail_filter_classes", ""))
    missing = [name for name in INTERNAL_CLASSES if name not in classes]
    if missing:
        wanted["internal_mail_filter_classes"] = ", ".join(classes + missing)
    return wanted


def restored_values(saved: Dict[str, Dict[str, Any]], current: Dict[str, str], table: str) -> Dict[str, Optional[str]]:
    """{parameter: value, or None to unset} that ends the window.

    ``saved`` is {parameter: {"explicit": bool, "value": str}} as main.cf had them before the
    window. What the window added is removed; when the rest is still what it was, the parameter
    gets its exact original text back (or is unset when main.cf did not set it). When someone
    changed it meanwhile, only the window's part is removed and their change is kept.
    """
    restore: Dict[str, Optional[str]] = {}
    entry = "regexp:" + table
    for name in WINDOW_PARAMETERS:
        before = saved.get(name) or {"explicit": False, "value": ""}
        items = split_list(current.get(name, ""))
        if name == "header_checks":
            remaining = [item for item in items if item != entry]
        else:
            originally = split_list(before["value"])
            remaining = [item for item in items if item not in INTERNAL_CLASSES or item in originally]
        if remaining == items:
            continue        # nothing of the window left in it
        if remaining == split_list(before["value"]):
            restore[name] = before["value"] if before["explicit"] else None
        else:
            restore[name] = ", ".join(remaining)
    return restore


def window_in_effect(current: Dict[str, str], table: str) -> bool:
    """Whether the current parameters hold new mail (our table is in header_checks)."""
    return ("regexp:" + table) in split_list(current.get("header_checks", ""))


def bypassing_services(main_value: str, master_overrides: str) -> List[str]:
    """Services whose mail skips header checks (receive_override_options=no_header_body_checks).

    ``main_value`` is main.cf's receive_override_options; ``master_overrides`` is ``postconf -P``
    output (``service/type/parameter = value`` lines). A service named in master.cf with its own
    value follows that; every other service follows main.cf.
    """
    bypass = []
    if "no_header_body_checks" in split_list(main_value):
        bypass.append("every service without its own receive_override_options (main.cf)")
    for line in master_overrides.splitlines():
        key, sep, value = line.partition("=")
        parts = key.strip().split("/")
        if sep and len(parts) == 3 and parts[2] == "receive_override_options" \
                and "no_header_body_checks" in split_list(value):
            bypass.append("%s/%s" % (parts[0], parts[1]))
    return bypass


# --- the ledger ------------------------------------------------------------------------------

def ledger_path(state_dir: str, instance_name: str) -> str:
    return os.path.join(state_dir, instance_name, LEDGER)


def owner_of(instance: Dict[str, Any]) -> Dict[str, Any]:
    """Whose ledger this is: the host, the instance's directories, and the queue directory's inode - what a copy of the
    ledger on another machine (a disk image, a shared state directory) cannot also have."""
    try:
        inode = os.stat(instance["queue_directory"]).st_ino
    except (OSError, KeyError, TypeError):
        inode = None
    return {"host": socket.gethostname(), "config_dir": instance.get("config_dir"),
            "queue_directory": instance.get("queue_directory"), "queue_inode": inode}


def new_ledger(incident_id: str, instance: Dict[str, Any], now: float, quarantine: List[str], carried: List[str],
               window: bool, saved: Dict[str, Dict[str, Any]], table: Optional[str], operator: Optional[str] = None) -> Ledger:
    return {
        "format": FORMAT,
        "incident_id": incident_id,
        "instance": {"name": instance["name"], "config_dir": instance["config_dir"]},
        "owner": owner_of(instance),
        "opened": int(now),
        "window_ended": None,
        "window_arrivals_final": False,
        "window": bool(window),
        "window_table": table if window else None,
        "saved": saved,
        "quarantine": sorted(quarantine),
        "held": sorted(carried),
        "window_arrivals": [],
        "purged": [],
        "released": [],
        "junk": None,
        "junk_held": None,
        "history": [{"time": int(now), "event": "opened", "incident_id": incident_id, "operator": operator,
                     "carried_over": len(carried)}],
    }


def check_owner(ledger: Ledger, instance: Dict[str, Any], path: str) -> Ledger:
    """Refuse a ledger written for another host or instance: its IDs would mean other messages here."""
    recorded = ledger.get("owner")
    if not recorded:
        return ledger          # written by an earlier release: adopted, and marked as this instance's when next written
    here = owner_of(instance)
    differing = [key for key in ("host", "config_dir", "queue_directory", "queue_inode")
                 if recorded.get(key) is not None and here.get(key) is not None and recorded[key] != here[key]]
    if differing:
        raise IncidentError(
            "the incident ledger %s was written for %s (%s), not for this instance (%s): it was copied here with a "
            "disk image or its state directory is shared. Its queue IDs name other messages here, so nothing was "
            "changed. Move it away (mv %s %s.foreign) to start this instance's own incident, or give each host its "
            "own state_dir" % (path, _described(recorded), ", ".join(differing), _described(here), path, path))
    return ledger


def _described(owner: Dict[str, Any]) -> str:
    return "host %s, %s, queue directory %s (inode %s)" % (
        owner.get("host"), owner.get("config_dir"), owner.get("queue_directory"), owner.get("queue_inode"))


def left_over(ledger: Ledger) -> List[str]:
    """IDs the incident held (or saw arrive in its window) that it neither purged nor released."""
    done = set(ledger["purged"]) | set(ledger["released"])
    return sorted((set(ledger["held"]) | set(ledger["window_arrivals"])) - done)


def carried_from(previous: Ledger, on_hold: Iterable[str]) -> List[str]:
    """When a new incident starts after an ended one: the earlier incident's leftovers still on hold.

    They are the runbook's (not the host's own hold), so the new incident takes them over rather
    than counting them as its quarantine.
    """
    if not previous:
        return []
    on_hold = set(on_hold)
    return sorted(queue_id for queue_id in left_over(previous) if queue_id in on_hold)


def validate_ledger(ledger: Any, path: str) -> Ledger:
    if not isinstance(ledger, dict) or ledger.get("format") != FORMAT:
        raise IncidentError("%s is not an incident ledger of this collection (format %r)"
                            % (path, ledger.get("format") if isinstance(ledger, dict) else None))
    for key in ("quarantine", "held", "window_arrivals", "purged", "released"):
        if not isinstance(ledger.get(key), list):
            raise IncidentError("%s: %s is missing or not a list" % (path, key))
    junk = ledger.get("junk")
    if junk is not None and not (isinstance(junk, dict) and isinstance(junk.get("options"), dict)
                                 and isinstance(junk.get("time"), (int, float)) and not isinstance(junk["time"], bool)):
        raise IncidentError("%s: junk (the junk its hold recorded) is not {options, time}" % path)
    if ledger.get("junk_held") is not None and (not isinstance(ledger["junk_held"], int)
                                                or isinstance(ledger["junk_held"], bool)):
        raise IncidentError("%s: junk_held is not a number" % path)
    return ledger


def read_ledger(path: str, instance: Optional[Dict[str, Any]] = None) -> Optional[Ledger]:
    """The ledger at PATH, or None when there is none; with INSTANCE, refused unless it is that instance's."""
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError) as exc:
        if not os.path.exists(path):
            return None
        raise IncidentError("cannot read the incident ledger %s: %s" % (path, exc))
    try:
        ledger = validate_ledger(json.loads(text), path)
    except ValueError as exc:
        if isinstance(exc, IncidentError):
            raise
        raise IncidentError("the incident ledger %s is not valid JSON (%s): move it away to start over" % (path, exc))
    if instance is not None:
        check_owner(ledger, instance, path)
        ledger.setdefault("owner", owner_of(instance))
    return ledger


def write_ledger(path: str, ledger: Ledger) -> None:
    """Write atomically and durably (temporary file, fsync, rename, fsync of the directory), mode 0600."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o700)
    handle, temporary = tempfile.mkstemp(prefix=".incident-", dir=folder)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(ledger, sort_keys=True, separators=(",", ":")))   # dumps: C's encoder, not dump's
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def archive_ledger(path: str, ledger: Ledger) -> str:
    """Keep an ended incident's ledger beside the new one (incident-<id>-<ended>.json)."""
    target = os.path.join(os.path.dirname(path), "incident-%s-%s.json" % (ledger["incident_id"], ledger.get("window_ended") or 0))
    os.rename(path, target)
    return target


# --- what a listing means for the ledger ------------------------------------------------------

class Scope:
    ALL = "all"
    HELD = "held"          # what the runbook held when the window opened (and what it took over)
    WINDOW = "window"      # what arrived in the window (seen on hold, not held by the hold phase)


def classify(ledger: Ledger, messages: Iterable[Message]) -> Tuple[List[Message], List[Message], List[Message]]:
    """Split listed messages by the ledger: (quarantine, held, window) lists of messages.

    While the window is open, held mail that is in neither the quarantine nor the held list arrived
    in the window. Ending the window records every such message (the hold directory then); from then
    on the window's arrivals are the IDs recorded, and anything else on hold (mail the host's own
    checks hold again after the requeue, or new mail) is not the incident's.
    """
    quarantine, held = set(ledger["quarantine"]), set(ledger["held"])
    windowed = set(ledger["window_arrivals"])
    still_arriving = not ledger.get("window_arrivals_final")
    in_quarantine, in_held, in_window = [], [], []
    for message in messages:
        queue_id = message["queue_id"]
        if queue_id in quarantine and message["queue_name"] in ("hold", None):
            in_quarantine.append(message)
        elif queue_id in held:
            in_held.append(message)
        elif queue_id in windowed or (still_arriving and message["queue_name"] == "hold"):
            in_window.append(message)
    return in_quarantine, in_held, in_window


def narrow(ledger: Ledger, selected: Iterable[Message], scope: str,
           include_quarantine: bool = False) -> Tuple[List[Message], int]:
    """The selected messages the incident lets an action touch, and how many quarantined ones it kept out."""
    in_quarantine, in_held, in_window = classify(ledger, selected)
    quarantine_ids = {m["queue_id"] for m in in_quarantine}
    if scope == Scope.HELD:
        allowed = {m["queue_id"] for m in in_held}
    elif scope == Scope.WINDOW:
        allowed = {m["queue_id"] for m in in_window}
    else:
        allowed = None
    kept = []
    for message in selected:
        queue_id = message["queue_id"]
        if queue_id in quarantine_ids and not include_quarantine:
            continue
        if allowed is not None and queue_id not in allowed:
            continue
        kept.append(message)
    return kept, 0 if include_quarantine else len(quarantine_ids)


def record_junk(ledger: Ledger, options: Dict[str, Any], now: float) -> Ledger:
    """The hold: what the incident's junk is (its selection options, given to the hold as incident.junk, and the time
    its age options count from), recorded once - the first purge counts it among what the incident held (junk_to_count).
    A later hold does not change it: the bound of the purge is what was junk when the mail was first held."""
    if ledger.get("junk") is None and ledger.get("junk_held") is None:
        ledger["junk"] = {"options": {key: value for key, value in options.items() if value is not None},
                          "time": now}
    return ledger


def junk_to_count(ledger: Ledger) -> Optional[Dict[str, Any]]:
    """The junk a purge counts among what the incident still holds, as the bound of every purge (junk_held): the
    definition the hold recorded, until the first purge has counted it. None when there is none or it is counted."""
    if ledger.get("junk_held") is not None:
        return None
    return ledger.get("junk")


def purge_guard(ledger: Ledger, selected: Iterable[Message]) -> Tuple[int, int]:
    """Refuse a purge that would delete more of what the runbook held than was junk when it held it.

    Junk that arrived in the window is not limited here (a live incident keeps sending): only the
    part of the selection that was queued before the window is compared with how many of the messages
    the incident held matched the junk its hold recorded (counted by the first purge that selects any of
    them, junk_to_count). Returns (held part, window part) counts.
    """
    _quarantine, in_held, in_window = classify(ledger, selected)
    bound = ledger.get("junk_held")
    if bound is not None and len(in_held) > bound:
        raise IncidentError(
            "the selection matches %d messages that were queued before the incident window opened, but only %d "
            "of the messages the incident held match the junk its hold recorded: the selection is wider than the "
            "junk. Nothing was deleted" % (len(in_held), bound))
    return len(in_held), len(in_window)


_RECORDED_AS = {"hold": "held", "delete": "purged", "requeue": "released", "release": "released",
                "expire_release": "released"}


def intend(ledger: Ledger, action: str, ids: Iterable[str], now: float, archive: Optional[str] = None) -> Ledger:
    """Write-ahead: what an action is about to do (and, for a purge, the archive that holds it), so that a run
    killed half-way is still accounted for."""
    if action in _RECORDED_AS and ids:
        ledger["pending"] = {"action": action, "ids": sorted(ids), "time": int(now)}
        if archive:
            ledger["pending"]["archive"] = archive
    return ledger


def account_interrupted(ledger: Ledger, on_hold: Iterable[str]) -> Optional[Dict[str, Any]]:
    """Account for what an interrupted action did, from where its messages are now (``on_hold``: IDs on hold).

    A held message is on hold; a deleted one (archived first, so its content is safe) or a released one is
    no longer there. What is still where it was is left as it is (the next run acts on it again). Returns the
    pending entry with ``not_done`` (the IDs it did not get to), or None when nothing was pending.
    """
    pending = ledger.pop("pending", None)
    if not pending:
        return None
    on_hold = set(on_hold)
    ids = set(pending["ids"])
    done = ids & on_hold if pending["action"] == "hold" else ids - on_hold
    key = _RECORDED_AS[pending["action"]]
    ledger[key] = sorted(set(ledger[key]) | done)
    ledger["history"].append({"time": pending["time"], "event": pending["action"] + " (interrupted, accounted for)",
                              "changed": len(done)})
    return dict(pending, not_done=sorted(ids - done))


def record(ledger: Ledger, action: str, changed: List[str], seen_window: Iterable[str], now: float,
           extra: Optional[Dict[str, Any]] = None) -> Ledger:
    """Add an action's outcome to the ledger (IDs Postfix reported changed, window arrivals seen)."""
    ledger.pop("pending", None)
    key = _RECORDED_AS.get(action)
    if key:
        ledger[key] = sorted(set(ledger[key]) | set(changed))
    if not ledger.get("window_arrivals_final"):     # ending the window records them all (and makes them final)
        ledger["window_arrivals"] = sorted(set(ledger["window_arrivals"]) | (set(seen_window) - set(ledger["held"])))
    event = {"time": int(now), "event": action, "changed": len(changed)}
    event.update(extra or {})
    ledger["history"].append(event)
    return ledger


def _envelope_count(_name: str, selector: Any, messages: List[Message]) -> int:
    return sum(1 for message in messages if selector.matches(message))


def view(ledger: Ledger, listed: Optional[Iterable[Message]], ledger_file: Optional[str] = None,
         subsets: Optional[Dict[str, Any]] = None, count: Callable[[str, Any, List[Message]], int] = _envelope_count) -> Dict[str, Any]:
    """What the ledger says now, against a listing of the queue (for reports and verify).

    ``listed`` needs only the held messages; None (no listing) leaves out what only a listing tells.
    ``subsets`` ({name: Selector}): how many of the incident's messages still on hold match each, counted by
    ``count(name, selector, messages)`` (the envelope options alone by default; the caller reads the queue files
    for selectors that need them).
    """
    if listed is None:
        result = view(ledger, [], ledger_file)
        for key in ("left_on_hold", "left_on_hold_matching", "unaccounted", "unaccounted_count", "guarded"):
            result[key] = None
        result["quarantine"] = {"recorded": len(ledger["quarantine"]), "on_hold": None, "missing": None,
                                "missing_count": None}
        return result
    if ledger.get("pending"):
        ledger = json.loads(json.dumps(ledger))
        account_interrupted(ledger, [m["queue_id"] for m in listed if m["queue_name"] == "hold"])
    by_id = {m["queue_id"]: m for m in listed}
    on_hold = {queue_id for queue_id, m in by_id.items() if m["queue_name"] == "hold"}
    quarantine = ledger["quarantine"]
    missing = [queue_id for queue_id in quarantine if queue_id not in on_hold]
    _q, in_held, in_window = classify(ledger, [m for m in listed if m["queue_name"] == "hold"])
    touched = set(ledger["held"]) | set(ledger["window_arrivals"]) | {m["queue_id"] for m in in_window}
    accounted = set(ledger["purged"]) | set(ledger["released"]) | on_hold
    unaccounted = sorted(touched - accounted)
    return {
        "incident_id": ledger["incident_id"],
        "ledger": ledger_file,
        "opened": ledger["opened"],
        "window_ended": ledger["window_ended"],
        "window": ledger["window"],
        "window_open": ledger["window"] and ledger["window_ended"] is None,
        "quarantine": {"recorded": len(quarantine), "on_hold": len(quarantine) - len(missing),
                       "missing": missing[:50], "missing_count": len(missing)},
        "held": len(ledger["held"]),
        "window_arrivals": len(set(ledger["window_arrivals"]) | {m["queue_id"] for m in in_window}),
        "purged": len(ledger["purged"]),
        "released": len(ledger["released"]),
        "junk_held": ledger.get("junk_held"),
        "left_on_hold": len(in_held) + len(in_window),
        "guarded": {source: sum(1 for queue_id in ids if queue_id in on_hold)
                    for source, ids in sorted((ledger.get("guarded") or {}).items())},
        "left_on_hold_matching": {name: count(name, selector, in_held + in_window)
                                  for name, selector in (subsets or {}).items()},
        "unaccounted": unaccounted[:50],
        "unaccounted_count": len(unaccounted),
    }


def now() -> float:
    return time.time()
