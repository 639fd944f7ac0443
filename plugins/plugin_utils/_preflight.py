# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Private to this collection: no compatibility promise for outside users.

"""The runbook's pre-flight: every input checked before any host changes. Controller-side, pure.

The roles' argument specs check types and choices (validate_argument_spec); this checks what a
spec cannot say: a junk selection that the modules would refuse or that selects nothing, access(5)
entries that would write a second field (``spammer@example.com OK`` permits the spammer), reject
actions that do not reject, relative paths, plan IDs. Each problem names the variable, what is wrong
and what would be right. Selections are checked with the modules' own Selector, so the controller
refuses exactly what a host would.

host_problems() checks the same inputs against what one host is (its map types, its tools, whether
another system rewrites its main.cf).
"""

from __future__ import absolute_import, division, print_function

import os
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mailops.postfix.plugins.module_utils import _access
from ansible_collections.mailops.postfix.plugins.module_utils._selection import SelectionError, Selector
from ansible_collections.mailops.postfix.plugins.module_utils._values import (
    INCIDENT_ID_RULE, is_incident_id, parse_duration)
from ansible_collections.mailops.postfix.plugins.plugin_utils._runbook_plan import ID_LENGTH, INPUTS

# The collection's roles, whose meta/argument_specs.yml say each phase's types and choices.
ROLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles")
_SPECS = {}

MODES = ("direct", "plan", "apply")
# The phases of the whole runbook whose variables an approved plan's inputs are checked against.
RUNBOOK_PHASES = ("assess", "hold", "fix", "purge", "requeue", "verify")
_PLAN_ID_RE = re.compile(r"\A[0-9a-f]{%d}\Z" % ID_LENGTH)
_SERIAL_RE = re.compile(r"\A(?:[1-9][0-9]*|(?:100|[1-9]?[0-9])%)\Z")

# Where the runbook's phases read a selection (dict of the modules' selection options).
SELECTIONS = tuple(name for name in INPUTS if name.endswith("_junk"))
# Inputs an earlier release named otherwise: refused, naming the new name.
RENAMED = {"purge_selection": "purge_junk", "requeue_exclude": "requeue_junk"}
# Absolute paths: on the hosts, and on the controller (these must exist there too when given).
HOST_PATHS = ("mailops_state_dir", "fix_config_dir", "fix_sender_map", "fix_client_map", "fix_sasl_map",
              "purge_archive_dir", "verify_delivered_dir", "metrics_textfile_dir", "metrics_state_dir",
              "metrics_install_dir", "metrics_command")
CONTROLLER_PATHS = ("mailops_report_dir", "mailops_audit_log", "purge_fetch_dir", "fix_tasks_file", "report_dir",
                    "hold_audit_log", "purge_audit_log", "requeue_audit_log", "mailops_plan_report_dir")
EXISTING_CONTROLLER_FILES = ("fix_tasks_file",)
POSITIVE = ("hold_batch_size", "purge_batch_size", "requeue_batch_size", "requeue_max_active",
            "requeue_max_active_timeout", "verify_settle_retries", "assess_summary_top", "report_top",
            "purge_max_messages")
NOT_NEGATIVE = ("purge_batch_pause", "requeue_batch_pause", "verify_settle_delay", "fix_reload_timeout")
DURATIONS = ("mailops_plan_max_age",)
INSTANCE_OPTIONS = ("config_dir", "postfix_bin_dir", "postfix_tool_paths", "source")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_selection(name: str, value: Any, required: bool = False) -> List[str]:
    """Problems of one selection variable (a dict of the modules' selection options)."""
    if value is None or value == "":
        value = {}
    if not isinstance(value, dict):
        return ["%s: expected a dictionary of selection options such as {\"sender\": [\"spammer@example.com\"]}, "
                "got %r" % (name, value)]
    unknown = sorted(set(value) - set(Selector.OPTIONS))
    if unknown:
        return ["%s: unknown selection option(s) %s; known: %s"
                % (name, ", ".join(unknown), ", ".join(Selector.OPTIONS))]
    empty = sorted(key for key, option in value.items() if isinstance(option, list) and not option)
    if empty:
        return ["%s: %s: an empty list selects nothing; leave the option out instead" % (name, ", ".join(empty))]
    if "queues" in value and name != "requeue_junk":
        return ["%s: give no 'queues' in a junk selection (each phase chooses its queues: hold_queues, purge_queues)"
                % name]
    try:
        selector = Selector(**{key: value.get(key) for key in Selector.OPTIONS})
    except (SelectionError, TypeError, ValueError) as exc:
        return ["%s: %s" % (name, exc)]
    if required and selector.is_empty:
        return ["%s: the junk selection is empty, so the purge would select nothing in particular; describe the "
                "junk with the modules' selection options, for example {\"sender\": [\"spammer@example.com\"]}" % name]
    return []


def check_instance(value: Any) -> List[str]:
    if value is None or value == "":
        return []
    if not isinstance(value, dict):
        return ["mailops_instance: expected a dictionary of the modules' instance options (%s), got %r"
                % (", ".join(INSTANCE_OPTIONS), value)]
    problems = []
    unknown = sorted(set(value) - set(INSTANCE_OPTIONS))
    if unknown:
        problems.append("mailops_instance: unknown option(s) %s; known: %s" % (", ".join(unknown), ", ".join(INSTANCE_OPTIONS)))
    for key in ("config_dir", "postfix_bin_dir"):
        if value.get(key) is not None and not (isinstance(value[key], str) and os.path.isabs(value[key])):
            problems.append("mailops_instance.%s: expected an absolute path, got %r" % (key, value[key]))
    tools = value.get("postfix_tool_paths")
    if tools is not None:
        if not isinstance(tools, dict):
            problems.append("mailops_instance.postfix_tool_paths: expected a dictionary {tool: absolute path}")
        else:
            for tool, path in sorted(tools.items()):
                if not (isinstance(path, str) and os.path.isabs(path)):
                    problems.append("mailops_instance.postfix_tool_paths.%s: expected an absolute path, got %r" % (tool, path))
    if value.get("source") not in (None, "auto", "json", "text"):
        problems.append("mailops_instance.source: expected auto, json or text, got %r" % (value["source"],))
    return problems


def phase_spec(phase: str, roles_dir: str = ROLES_DIR) -> Dict[str, Any]:
    """The options of a phase's role (its meta/argument_specs.yml, entry point main), read once per process."""
    key = (roles_dir, phase)
    if key not in _SPECS:
        with open(os.path.join(roles_dir, phase, "meta", "argument_specs.yml")) as handle:
            _SPECS[key] = (yaml.safe_load(handle)["argument_specs"]["main"].get("options") or {})
    return _SPECS[key]


def _read_all_specs(roles_dir: str = ROLES_DIR) -> None:
    """Read every role's spec now: this module is first imported by the controller's main process (the
    runbook's fleet controls load the collection's filters before any host's task), so every forked
    worker finds the specs read instead of reading them again for each host."""
    try:
        names = sorted(os.listdir(roles_dir))
    except OSError:
        return
    for name in names:
        if os.path.exists(os.path.join(roles_dir, name, "meta", "argument_specs.yml")):
            try:
                phase_spec(name, roles_dir)
            except (OSError, KeyError, TypeError, yaml.YAMLError):
                pass     # read (and reported) when a run asks for that phase


_read_all_specs()


def spec_problems(values: Dict[str, Any], phases: Iterable[str], roles_dir: str = ROLES_DIR) -> List[str]:
    """Types and choices: each phase's variables against its role's argument spec (what the role would refuse)."""
    problems = []
    for phase in phases:
        if not os.path.exists(os.path.join(roles_dir, phase, "meta", "argument_specs.yml")):
            continue
        spec = phase_spec(phase, roles_dir)
        provided = {name: values[name] for name in spec if name in values}
        result = ArgumentSpecValidator(spec).validate(provided)
        for message in result.error_messages:
            named = [name for name in spec if re.search(r"\b%s\b" % re.escape(name), message)]
            problems.append("%s%s (role %s)" % (named[0] + ": " if named else "", message, phase))
    return problems


def runbook_problems(values: Dict[str, Any], phases: Iterable[str]) -> List[str]:
    """Every problem of the runbook's inputs ``values`` ({variable: value}, only those defined) for PHASES.

    First each phase's argument spec (types, choices), then what the variables mean.
    """
    problems = spec_problems(values, phases)
    if problems:
        return problems
    phases = set(phases)
    for old, new in sorted(RENAMED.items()):
        if old in values:
            problems.append("%s: renamed %s (the junk is called the junk everywhere); give %s instead" % (old, new, new))
    mode = values.get("mailops_mode", "direct")
    if mode not in MODES:
        problems.append("mailops_mode: expected one of %s, got %r" % (", ".join(MODES), mode))
    if mode == "apply":
        plan_id = values.get("mailops_plan_id") or (values.get("mailops_plan") or {}).get("id")
        if not plan_id:
            problems.append("mailops_plan_id: an apply run needs the ID of the approved plan "
                            "(the plan job's mailops_plan.id)")
        elif not (isinstance(plan_id, str) and _PLAN_ID_RE.match(plan_id)):
            problems.append("mailops_plan_id: %r is not a plan ID (%d lower-case hexadecimal digits)" % (plan_id, ID_LENGTH))
    elif mode in MODES and values.get("mailops_plan_id") not in (None, ""):
        problems.append("mailops_plan_id: given with mailops_mode=%s; it is only for mailops_mode=apply" % mode)
    incident_id = values.get("mailops_incident_id")
    if incident_id not in (None, "") and not is_incident_id(incident_id):
        problems.append("mailops_incident_id: %r: %s" % (incident_id, INCIDENT_ID_RULE))
    # an apply run takes the junk from the approved plan
    purging = ("purge" in phases or "plan" in phases) and mode != "apply"
    for name in SELECTIONS:
        if name in values:
            problems.extend(check_selection(name, values[name]))
    if purging:
        effective = "purge_junk" if values.get("purge_junk") not in (None, "", {}) else "mailops_junk"
        if not problems or not any(problem.startswith(effective + ":") for problem in problems):
            problems.extend(check_selection(effective, values.get(effective), required=True))
    problems.extend(check_instance(values.get("mailops_instance")))
    problems.extend(_access.entry_problems(values, names="variable"))
    problems.extend(_access.check_reject_action("fix_reject_action", values.get("fix_reject_action")))
    problems.extend(_access.check_map_type("fix_map_type", values.get("fix_map_type")))
    for index, value in enumerate(values.get("metrics_config_dirs") or []):
        if not isinstance(value, str) or not os.path.isabs(value):
            problems.append("metrics_config_dirs[%d]: expected an absolute path (a Postfix configuration directory), got "
                            "%r" % (index, value))
    for name in HOST_PATHS + CONTROLLER_PATHS:
        value = values.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or not os.path.isabs(value):
            problems.append("%s: expected an absolute path, got %r" % (name, value))
        elif name in EXISTING_CONTROLLER_FILES and not os.path.isfile(value):
            problems.append("%s: %s does not exist on the controller" % (name, value))
    for name in POSITIVE:
        value = values.get(name)
        if value is not None and not (_is_int(value) and value >= 1):
            problems.append("%s: expected a whole number of at least 1, got %r" % (name, value))
    for name in NOT_NEGATIVE:
        value = values.get(name)
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0):
            problems.append("%s: expected a number of 0 or more, got %r" % (name, value))
    for name in DURATIONS:
        if values.get(name) is not None:
            try:
                if parse_duration(values[name], name, SelectionError) <= 0:
                    raise SelectionError("%s: must be longer than 0" % name)
            except SelectionError as exc:
                problems.append(str(exc))
    percentage = values.get("mailops_max_fail_percentage")
    if percentage is not None and not (_is_int(percentage) and 0 <= percentage <= 100):
        problems.append("mailops_max_fail_percentage: expected a whole number from 0 to 100, got %r" % (percentage,))
    serial = values.get("mailops_serial")
    if serial is not None and not _SERIAL_RE.match(str(serial)):
        problems.append("mailops_serial: expected a number of hosts (1 or more) or a percentage such as 25%%, got %r"
                        % (serial,))
    return problems


def _version(text: Optional[str]) -> Tuple[int, int]:
    match = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def host_problems(instance: Dict[str, Any], values: Dict[str, Any], paths: Optional[Dict[str, Any]] = None) -> List[str]:
    """Problems of the inputs on one host: ``instance`` is postfix_queue_info's instance (tools, map types, managed_by).

    ``paths`` is {variable: whether the directory exists on the host} for the host paths that must exist.
    """
    problems = []
    managed = instance.get("managed_by")
    window = values.get("mailops_window", True)
    blocking = any(values.get(name) for name in ("fix_block_senders", "fix_block_clients", "fix_block_sasl_users"))
    if managed and window:
        problems.append("mailops_window: main.cf of %s is rewritten by %s's configuration daemon, so the incident "
                        "window (set with postconf) would not last; run with mailops_window=false and hold new mail "
                        "with %s's own tools (docs/runbook.md)" % (instance.get("config_dir"), managed, managed))
    if managed and (blocking or values.get("fix_block_local_users")):
        problems.append("fix_block_senders: main.cf of %s is rewritten by %s's configuration daemon, so the built-in "
                        "block (postconf) would not last; leave fix_block_senders, fix_block_clients, "
                        "fix_block_sasl_users and fix_block_local_users empty and block in fix_tasks_file "
                        "(docs/runbook.md has a Zimbra example)" % (instance.get("config_dir"), managed))
    if values.get("fix_block_sasl_users") and _version(instance.get("postfix_version")) < (2, 11):
        problems.append("fix_block_sasl_users: check_sasl_access needs Postfix 2.11 or later; this is %s - block the "
                        "login in fix_tasks_file (smtpd_sender_login_maps, or your SASL server)" % instance.get("postfix_version"))
    map_type = values.get("fix_map_type", "hash")
    if blocking and map_type not in (instance.get("map_types") or []):
        problems.append("fix_map_type: %s is not a map type this Postfix supports (postconf -m: %s)"
                        % (map_type, ", ".join(instance.get("map_types") or [])))
    tools = instance.get("tools") or {}
    needed = ["postconf", "postqueue", "postsuper"]
    needed += ["postcat"] if values.get("_purging") else []
    needed += ["postfix", "postmap"] if blocking or values.get("_reloading") else []
    missing = [tool for tool in needed if tool not in tools]
    if missing:
        where = "mailops_instance.postfix_bin_dir" if (values.get("mailops_instance") or {}).get("postfix_bin_dir") \
            else "mailops_instance"
        problems.append("%s: %s not found on this host; set postfix_bin_dir (the directory of Postfix's commands) "
                        "or postfix_tool_paths" % (where, ", ".join(missing)))
    for name, exists in sorted((paths or {}).items()):
        if not exists:
            problems.append("%s: %s does not exist on this host" % (name, values.get(name)))
    return problems


# The phases that reload Postfix (the fix, the incident window opened by the hold and ended by end_window).
RELOADING = ("fix", "hold", "end_window")


def admission(values: Dict[str, Any], phases: Iterable[str], read: Dict[str, Any],
              paths: Optional[Dict[str, Any]] = None) -> List[str]:
    """Pre-flight's verdict on one host - empty: the run may go on there.

    First the run's VALUES for PHASES (runbook_problems), then - only when they are right - the host: READ is
    postfix_queue_info's result (list_queue=false) or its failure, ``paths`` {variable: whether that directory
    exists on the host}; the tools a phase needs follow from PHASES (postcat to purge, postfix to reload).
    """
    phases = list(phases)
    problems = runbook_problems(values, phases)
    if problems:
        return problems
    if not isinstance(read.get("instance"), dict):
        return ["mailops_instance: %s" % (read.get("msg") or "the host's Postfix instance could not be read")]
    instance = dict(read["instance"], postfix_version=read.get("postfix_version"))
    needs = {"_purging": "purge" in phases, "_reloading": any(phase in phases for phase in RELOADING)}
    return host_problems(instance, dict(values, **needs), paths or {})
