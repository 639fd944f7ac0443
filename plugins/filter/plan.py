# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the runbook's change plan (documented in plan_part.yml, fleet_plan.yml, plan_for.yml,
plan_markdown.yml, plan_artifact.yml and plan_problems.yml)."""

from __future__ import absolute_import, division, print_function

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.mailops.postfix.plugins.plugin_utils import _runbook_plan
from ansible_collections.mailops.postfix.plugins.plugin_utils._hostvars import host_values, plain


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
    parts = dict((host, values.get("plan_result")) for host, values in
                 host_values(hostvars, hosts, ["plan_result"], "fleet_plan").items())
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


def plan_artifact(plan, kept):
    try:
        return _runbook_plan.artifact(plain(plan, "plan_artifact"), str(kept))
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("plan_artifact: not a fleet plan (%s)" % exc)


def plan_problems(part, plan_id, host, config_dir, max_age, fix_tasks=None, now=None):
    """Why a host's kept part of plan PLAN_ID cannot be applied here and now (each naming a variable)."""
    from ansible_collections.mailops.postfix.plugins.module_utils._queue import SelectionError, parse_duration
    try:
        seconds = parse_duration(max_age, "mailops_plan_max_age")
    except SelectionError as exc:
        return [str(exc)]
    return _runbook_plan.check_part(plain(part, "plan_problems"), str(plan_id), str(host), config_dir,
                                    now or time.time(), seconds,
                                    plain(fix_tasks, "plan_problems") if fix_tasks else None)


def plan_overridden(approved, current):
    """The approved inputs this run has another value for (given with higher precedence than set_fact)."""
    return _runbook_plan.overridden(plain(approved, "plan_overridden"), plain(current, "plan_overridden"))


class FilterModule(object):
    def filters(self):
        return {"plan_part": plan_part, "fleet_plan": fleet_plan, "plan_for": plan_for, "plan_markdown": plan_markdown,
                "plan_artifact": plan_artifact, "plan_problems": plan_problems, "plan_overridden": plan_overridden}
