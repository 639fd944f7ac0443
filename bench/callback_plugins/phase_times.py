# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark helper: wall time per runbook phase, written as JSON to $PHASE_TIMES_FILE.

A task's phase is the word before " | " in its name (the roles name every task "Phase | ..."), or the
play's name; a task's time runs from its start to the next task's start (or the end of the run).
Also written: how many times each waiting step of a runbook_phase task ran ("attempts", per phase, a
list per host and step) - a phase that took long because it waited says so.
Enable with ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=phase_times.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: phase_times
type: aggregate
short_description: wall time per runbook phase (benchmarks only)
description:
  - Writes the wall seconds and the task count of each phase, and the tries of the steps that waited, to the file
    named by PHASE_TIMES_FILE.
requirements:
  - PHASE_TIMES_FILE in the environment
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "phase_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.play = "play"
        self.current = None
        self.started = None
        self.times = {}
        self.tasks = {}
        self.attempts = {}

    def _close(self, now):
        if self.current is not None:
            self.times[self.current] = self.times.get(self.current, 0.0) + now - self.started

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name().strip() or "play"

    def _start(self, task):
        now = time.time()
        self._close(now)
        name = task.get_name().strip()
        if ": " in name and " | " in name:      # "role : Phase | what"
            name = name.split(": ", 1)[1]
        phase = name.split(" | ", 1)[0] if " | " in name else self.play
        self.current, self.started = phase, now
        self.tasks[phase] = self.tasks.get(phase, 0) + 1

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)

    def v2_runner_on_ok(self, result):
        self._attempts(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._attempts(result)

    def _attempts(self, result):
        for step in result._result.get("steps") or []:
            if isinstance(step, dict) and "attempts" in step:
                self.attempts.setdefault(self.current or self.play, []).append(
                    {"host": result._host.get_name(), "module": step.get("module"), "attempts": step["attempts"]})

    def v2_playbook_on_stats(self, stats):
        self._close(time.time())
        self.current = None
        path = os.environ.get("PHASE_TIMES_FILE")
        if path:
            with open(path, "w") as handle:
                json.dump({"seconds": self.times, "tasks": self.tasks, "attempts": self.attempts}, handle, indent=1, sort_keys=True)
