# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the runbook's change plan (documented in plan_part.yml, fleet_plan.yml, plan_for.yml,
plan_markdown.yml, plan_html.yml, plan_artifact.yml, plan_problems.yml, plan_applied.yml and plan_overridden.yml)."""

from __future__ import absolute_import, division, print_function

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.postfix.plugins.module_utils._selection import SelectionError
from ansible_collections.mailops.postfix.plugins.module_utils._values import parse_duration
from ansible_collections.mailops.postfix.plugins.plugin_utils import _preflight, _runbook_plan
from ansible_collections.mailops.postfix.plugins.plugin_utils._hostvars import host_values, plain
from ansible_collections.mailops.postfix.plugins.plugin_utils._report_html import render_plan


def plan_part(action_result, host, assessment):
    """HOST's part of the plan from its check-mode delete (return_plan) and its assess_result."""
    action_result, assessment = plain(action_result, "plan_part"), plain(assessment, "plan_part")
    try:
        return _runbook_plan.host_part(str(host), assessment, action_result.get("plan"))
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("plan_part: unexpected input (%s)" % exc)


def fleet_plan(hostvars, hosts, inputs, operator="unknown", title="Postfix incident plan", fix_tasks=None,
               created=None):
    """The fleet's plan from each host's part (host variable plan_result)."""
    parts = {host: values.get("plan_result") for host, values in
             host_values(hostvars, hosts, ["plan_result"], "fleet_plan").items()}
    return _runbook_plan.fleet_plan(parts, plain(inputs, "fleet_plan"), created if created is not None else time.time(),
                                    str(operator), str(title), plain(fix_tasks, "fleet_plan") if fix_tasks else None)


def plan_for(plan, host):
    """HOST's self-contained part of a fleet plan (what its own disk keeps), or None."""
    try:
        return _runbook_plan.part_for(plain(plan, "plan_for"), str(host))
    except _runbook_plan.PlanError as exc:
        raise AnsibleFilterError("plan_for: %s" % exc)


def plan_markdown(plan):
    try:
        return _runbook_plan.render_markdown(plain(plan, "plan_markdown"))
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("plan_markdown: not a fleet plan (%s)" % exc)


def plan_html(plan):
    try:
        return render_plan(plain(plan, "plan_html"))
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("plan_html: not a fleet plan (%s)" % exc)


def plan_artifact(plan, kept):
    try:
        return _runbook_plan.artifact(plain(plan, "plan_artifact"), str(kept))
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("plan_artifact: not a fleet plan (%s)" % exc)


def _instance(instance):
    instance = plain(instance, "plan_problems")
    if not isinstance(instance, dict):
        raise AnsibleFilterError("the instance must be a dict with name and config_dir, got %r" % (instance,))
    return {"name": instance.get("name"), "config_dir": instance.get("config_dir")}


def plan_problems(kept, plan_id, host, instance, max_age, fix_tasks=None, now=None):
    """Why a host's kept part of plan PLAN_ID cannot be applied here and now (each naming a variable): not this
    host's part of that plan, unaltered; for another instance; stale; another fix tasks file; or an approved input
    that pre-flight refuses."""
    try:
        seconds = parse_duration(max_age, "mailops_plan_max_age", SelectionError)
    except SelectionError as exc:
        return [str(exc)]
    kept, instance = plain(kept, "plan_problems"), _instance(instance)
    problems = _runbook_plan.check_part(kept, str(plan_id), str(host), instance, now or time.time(), seconds,
                                        plain(fix_tasks, "plan_problems") if fix_tasks else None)
    if problems:
        return problems
    approved = _runbook_plan.applied(kept, str(plan_id), str(host), instance)["inputs"]
    return ["plan %s approves %s" % (plan_id, problem)
            for problem in _preflight.runbook_problems(approved, _preflight.RUNBOOK_PHASES)]


def plan_applied(kept, plan_id, host, instance):
    """What an apply run takes from a host's verified part: ID, creation time, the approved inputs (the runbook's
    own inputs only), the fix tasks file, the purge's fingerprints, whether the host is affected."""
    try:
        return _runbook_plan.applied(plain(kept, "plan_applied"), str(plan_id), str(host), _instance(instance))
    except _runbook_plan.PlanError as exc:
        raise AnsibleFilterError("plan_applied: %s" % exc)


def plan_overridden(approved, current):
    """The approved inputs this run has another value for (given with higher precedence than set_fact)."""
    return _runbook_plan.overridden(plain(approved, "plan_overridden"), plain(current, "plan_overridden"))


class FilterModule(object):
    def filters(self):
        return {"plan_part": plan_part, "fleet_plan": fleet_plan, "plan_for": plan_for, "plan_markdown": plan_markdown,
                "plan_html": plan_html,
                "plan_artifact": plan_artifact, "plan_problems": plan_problems, "plan_applied": plan_applied,
                "plan_overridden": plan_overridden}
