# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""postfix_incident's steps: open an incident (its ledger and window), end its window.

The decisions are pure (_incident); Postfix's commands run in _postfix_cli. The ledger is written
before main.cf is changed, so whatever fails afterwards, ending the window finds what to undo.
"""

from __future__ import absolute_import, division, print_function

import os
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.mailops.postfix.plugins.module_utils import _audit, _files, _incident
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI, managed_config, queue_ids_on_disk
from ansible_collections.mailops.postfix.plugins.module_utils._values import parameters_text

# What opening or ending the window returns: (changed, result, diff, warnings).
Outcome = Tuple[bool, Dict[str, Any], Dict[str, str], List[str]]


def _current(cli: PostfixCLI) -> Dict[str, str]:
    return {name: entry["value"] for name, entry in cli.settings(*_incident.WINDOW_PARAMETERS).items()}


def _result(ledger: _incident.Ledger, path: str, instance: Dict[str, Any], parameters: Dict[str, Optional[str]],
            continued: bool = False, bypassed: Optional[List[str]] = None) -> Dict[str, Any]:
    return {
        "incident_id": ledger["incident_id"],
        "ledger": path,
        "instance": {k: instance[k] for k in ("name", "config_dir", "queue_directory")},
        "opened": ledger["opened"],
        "window": ledger["window"],
        "window_open": ledger["window"] and ledger["window_ended"] is None,
        "window_ended": ledger["window_ended"],
        "quarantine": len(ledger["quarantine"]),
        "held": len(ledger["held"]),
        "window_arrivals": len(ledger["window_arrivals"]),
        "purged": len(ledger["purged"]),
        "released": len(ledger["released"]),
        "parameters": parameters,
        "continued": continued,
        "bypassed_by": bypassed or [],
    }


def open_incident(cli: PostfixCLI, params: Dict[str, Any], check_mode: bool, now: float) -> Outcome:
    """Open (or continue) the instance's incident; returns (changed, result, diff, warnings)."""
    instance = cli.instance()
    path = _incident.ledger_path(params["state_dir"], instance["name"])
    ledger = _incident.read_ledger(path, instance)
    window = params["window"]
    incident_id = _incident.check_incident_id(params["incident_id"] or "incident-%d" % now)
    warnings = []
    before = _current(cli)
    if window and managed_config(instance["config_dir"]):
        raise _incident.IncidentError(
            "main.cf of %s is rewritten by %s's configuration daemon: a window set with postconf would not last. "
            "Run without the window (window: false) and hold new mail with that system's own tools"
            % (instance["config_dir"], managed_config(instance["config_dir"])))
    bypassed = _incident.bypassing_services(cli.postconf("receive_override_options")["receive_override_options"],
                                            cli.master_overrides()) if window else []
    for service in bypassed:
        warnings.append("mail received by %s skips header checks (receive_override_options=no_header_body_checks): "
                        "the incident window does not hold it" % service)
    table = os.path.join(instance["config_dir"], _incident.WINDOW_TABLE)
    continued = ledger is not None and ledger["window_ended"] is None
    if continued:
        window = ledger["window"]
        table = ledger["window_table"] or table
    else:
        if os.geteuid() != 0:
            raise _incident.IncidentError("opening an incident reads the hold queue directory and changes main.cf: "
                                          "run as root (become: true)")
        on_hold = queue_ids_on_disk(instance["queue_directory"], "hold")
        carried = _incident.carried_from(ledger, on_hold)
        quarantine = sorted(set(on_hold) - set(carried))
        saved = cli.settings(*_incident.WINDOW_PARAMETERS) if window else {}
        new = _incident.new_ledger(incident_id, instance, now, quarantine, carried, window, saved,
                                   table, params["operator"])
    wanted = _incident.window_values(before, table) if window else {}
    after = dict(before, **wanted)
    diff = {"before": parameters_text(before), "after": parameters_text(after)}
    changed = bool(wanted) or not continued
    if check_mode:
        shown = ledger if continued else new
        return changed, _result(shown, path, instance, after, continued, bypassed), diff, warnings
    if continued:
        if incident_id != ledger["incident_id"]:
            ledger["history"].append({"time": int(now), "event": "continued", "incident_id": incident_id,
                                      "operator": params["operator"]})
            _incident.write_ledger(path, ledger)
    else:
        if ledger is not None:
            _incident.archive_ledger(path, ledger)
        ledger = new
        _incident.write_ledger(path, ledger)     # first: whatever fails next, ending the window finds it
    if wanted:
        _files.write_text(table, _incident.window_rule(ledger["incident_id"]), 0o644)
        cli.set_parameters(wanted, instance["config_dir"])
        # the hold that follows lists the queue only once no cleanup process with the old settings is left
        warnings.extend(cli.reload(instance["config_dir"], instance["queue_directory"])["warnings"])
    if changed:
        _log(cli, params, "opened" if not continued else "window restored", ledger, warnings)
    return changed, _result(ledger, path, instance, after, continued, bypassed), diff, warnings


def end_window(cli: PostfixCLI, params: Dict[str, Any], check_mode: bool, now: float) -> Outcome:
    """End the window: main.cf as it was (what the window added removed), reload; returns (changed, result, diff, warnings)."""
    instance = cli.instance()
    path = _incident.ledger_path(params["state_dir"], instance["name"])
    ledger = _incident.read_ledger(path, instance)
    before = _current(cli)
    if ledger is None:
        return False, {"incident_id": None, "ledger": path, "window_open": False, "parameters": before,
                       "instance": {k: instance[k] for k in ("name", "config_dir", "queue_directory")}}, None, []
    table = ledger["window_table"] or os.path.join(instance["config_dir"], _incident.WINDOW_TABLE)
    restore = _incident.restored_values(ledger["saved"], before, table) if ledger["window"] else {}
    after = dict(before)
    for name, value in restore.items():
        after[name] = value if value is not None else cli.default(name)
    diff = {"before": parameters_text(before), "after": parameters_text(after)}
    changed = bool(restore) or ledger["window_ended"] is None
    warnings = []
    kept = [name for name, value in restore.items()
            if value is not None and value != (ledger["saved"].get(name) or {}).get("value")]
    for name in kept:
        warnings.append("%s was changed while the window was open: only the window's part was removed (now %r)"
                        % (name, after[name]))
    if check_mode or not changed:
        shown = dict(ledger, window_ended=ledger["window_ended"] or (int(now) if check_mode else None))
        return changed, _result(shown, path, instance, after), diff, warnings
    if restore:
        cli.set_parameters(restore, instance["config_dir"])
        # the window's arrivals are read from the hold directory once no cleanup process applies the window any more
        warnings.extend(cli.reload(instance["config_dir"], instance["queue_directory"])["warnings"])
    if os.path.exists(table) and not _incident.window_in_effect(after, table):
        os.unlink(table)
    if ledger["window_ended"] is None:
        # Everything the window held is on hold now: record it, so that what the incident holds is known by ID
        # whatever runs next (a requeue, or a new incident after a failed run, which takes over what is left).
        arrivals = set(queue_ids_on_disk(instance["queue_directory"], "hold")) - set(ledger["quarantine"]) - set(ledger["held"])
        ledger["window_arrivals"] = sorted(set(ledger["window_arrivals"]) | arrivals)
        ledger["window_arrivals_final"] = True
        ledger["window_ended"] = int(now)
        ledger["history"].append({"time": int(now), "event": "window ended", "operator": params["operator"],
                                  "window_arrivals": len(ledger["window_arrivals"])})
        _incident.write_ledger(path, ledger)
    _log(cli, params, "window ended", ledger, warnings)
    return True, _result(ledger, path, instance, after), diff, warnings


def _log(cli: PostfixCLI, params: Dict[str, Any], event: str, ledger: _incident.Ledger, warnings: List[str]) -> None:
    _audit.write(cli, _audit.line(params["operator"], [
        ("incident", ledger["incident_id"]), ("event", event.replace(" ", "_")),
        ("window", "yes" if ledger["window"] else "no"), ("quarantine", len(ledger["quarantine"]))]), warnings)
