#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: runbook_phase
short_description: A phase of the runbook as one task - its module runs in order, the facts it keeps set once
version_added: 0.1.0
description:
  - Runs the I(steps) one after the other on the host, each as a task of its own would run it - through the module's
    action plugin when it has one (M(mailops.postfix.postfix_queue_action)'s audit log and operator), with the task's
    C(module_defaults) - and stops at the first that fails.
  - Keeps what each step returned in the host variables its I(facts) name, read on the B(controller) (the names are
    the task's, never a host's). From ansible-core 2.21 they are set as C(ansible.builtin.set_fact) sets them, once,
    when every step succeeded - never as host facts (C(ansible_facts)), which would outlive the run in a fact cache
    and rank below play variables; on earlier versions the task returns them as C(kept_facts) for the next task to
    set (the runbook's roles do). When a step fails the phase fails with that step's message and returns the facts
    of the steps before it as C(kept_facts), which the runbook's rescue keeps - a window opened before the failure
    is still reported.
  - Used by the runbook's roles (preflight, assess, hold, purge, requeue, verify) - one task per phase instead of a task per module
    run and one per fact, about 40-50 ms of controller CPU per task and host (docs/performance.md).
    In a playbook of your own, plain tasks with C(register) do the same.
  - Runs in the controller's own process (an action plugin); the modules it runs run on the host.
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Each step runs in check mode as its module supports it.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  phase:
    description: The phase's name, for the messages.
    type: str
    required: true
  steps:
    description:
      - The module runs, in order. Each is a dictionary with C(module) (a module's fully qualified name, required),
        C(args) (its options, default none), C(facts) (the host variables that keep what it returned, each named with
        what it keeps, below; default none), C(skip) (true - the step is not run, its facts not set; default false),
        C(may_fail) (true - a failure of this step does not fail the phase - its facts that keep C(result) keep the
        failed result for the tasks after it to judge, its other facts are not set; default false) and
        C(require_running) (true - the phase fails after this step, its facts kept, unless the step's result shows
        the Postfix instance running; default false).
      - A step can wait - C(until_empty) names a subset of M(mailops.postfix.postfix_queue_info)'s result (its
        C(subsets)); while that subset still holds messages the step is run again, at most C(retries) more times
        (default 0), C(delay) seconds apart (default 1), and the phase fails when it still holds some after the last
        try. The step's result then has C(attempts). C(retries) without C(until_empty) is refused.
      - What a fact keeps - C(result) the module's result; C(incident) its C(incident); C(instance)
        M(mailops.postfix.postfix_queue_info)'s C(instance) with its C(incident) and C(postfix_version) (the runbook's
        C(mailops_postfix)); C(assessment) the runbook's C(assess_result) from M(mailops.postfix.postfix_queue_info)'s
        result; C(hold), C(purge), C(requeue) the phase's C(hold_result), C(purge_result) or C(requeue_result) from
        M(mailops.postfix.postfix_queue_action)'s result (docs/runbook.md).
    type: list
    elements: dict
    required: true
  account:
    description:
      - The verify phase's accounting, on the controller once every step succeeded - the runbook's check that every
        message the run held is purged (archived) or released (the filter P(mailops.postfix.verify_accounting#filter)).
        A dictionary - C(fact) the host variable that keeps it (required, not one a step keeps); C(listing) the number
        (from 1) of the step whose result is the queue and its incident after the run
        (M(mailops.postfix.postfix_queue_info) with C(incident), required); C(deliveries) the number of the step whose
        C(files) are the deliveries at a delivery sink (C(ansible.builtin.find); optional - not run or not given, they
        are not counted); C(assess), C(hold), C(purge), C(requeue) the phases' results (each optional); C(fail)
        (default true) - when the accounting does not add up the phase fails with C(ACCOUNTING FAILED on HOST) and
        its problems, the accounting kept (in C(kept_facts)); false reports only.
      - In check mode, when the listing step was not run (skipped), the fact is C({ok=true, check_mode=true,
        problems=[]}) - nothing was changed, so there is nothing to account for; outside check mode that is a failure.
      - The task's C(msg) is the accounting's C(summary_line).
    type: dict
  preflight:
    description:
      - The pre-flight's check of the run on this host, on the controller once every step succeeded - the phase fails
        with C(Pre-flight refused the run on HOST, nothing was changed) and every problem, joined by C( | ), unless the
        run's variables and the host are right (docs/runbook.md, "Pre-flight").
      - A dictionary - C(values) the run's variables, each name with its value (required); C(phases) the phases they are
        checked for, each against its role's argument spec and then for what it means (required); C(host) the number
        (from 1) of the step that read the host's instance (M(mailops.postfix.postfix_queue_info) with
        C(list_queue=false) and C(may_fail) - a failure to read it is a problem of C(mailops_instance); required);
        C(paths) each variable naming a directory the run needs on the host, with the number of the step
        (C(ansible.builtin.stat)) that looked at it; one that was not run (skipped) is not checked.
      - The host is looked at only when the run's variables are right - otherwise every host is refused alike.
    type: dict
notes:
  - A step's options are templated with the task, before any step runs - a step can not use an earlier step's result.
seealso:
  - module: mailops.postfix.postfix_queue_info
  - module: mailops.postfix.postfix_queue_action
  - module: mailops.postfix.postfix_incident
"""

EXAMPLES = r"""
- name: Hold - the incident window opens, then the queues go on hold
  mailops.postfix.runbook_phase:
    phase: hold
    steps:
      - module: mailops.postfix.postfix_incident
        args: {state: open}
        facts: {hold_incident: incident}
      - module: mailops.postfix.postfix_queue_action
        args: {action: hold, queues: [deferred, active, incoming]}
        facts: {hold_result: hold}

- name: Verify - read the queue again until released mail has left it, then account for every held message
  mailops.postfix.runbook_phase:
    phase: verify
    steps:
      - module: mailops.postfix.postfix_queue_info
        args:
          limit: 0
          incident: {}
          subsets:
            settling: {queues: [maildrop, incoming, active]}
        until_empty: settling
        retries: 120
        delay: 1
    account:
      fact: verify_result
      listing: 1
      hold: "{{ hold_result | default(none) }}"
      purge: "{{ purge_result | default(none) }}"
"""

RETURN = r"""
steps:
  description:
    - Each step's module result, with C(module); a skipped step is C({module, skipped=true}).
    - A step that waits (C(until_empty)) has C(attempts), how many times it ran.
  returned: always
  type: list
  elements: dict
msg:
  description: With I(account), the accounting's C(summary_line) (or why the phase failed).
  returned: with account
  type: str
  sample: "held 60 + arrived in the window 0 = purged 44 (archived 44) + released 16 + left on hold 0; ..."
kept_facts:
  description:
    - The facts the steps kept, for a task after this one to set - when a step failed (the facts of the steps before
      it), or on ansible-core before 2.21 (all of them).
    - With I(account), the accounting too, also when it failed the phase.
  returned: failed, or on ansible-core before 2.21
  type: dict
  sample: {hold_incident: {incident_id: 20261206T181500Z-a1b2c3, window_open: true}}
facts_set:
  description: The names of the facts set on the host (ansible-core 2.21 and later, when every step succeeded).
  returned: success on ansible-core 2.21 and later
  type: list
  elements: str
  sample: [hold_incident, hold_result]
"""
