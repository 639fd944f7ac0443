#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: private_files
short_description: Write the runbook's documents on the controller - a 0700 directory, 0600 files
version_added: 0.1.0
description:
  - Writes text files into a directory on the B(controller), privately whatever the umask - the directory (made with
    its missing parents) set to mode 0700, each file written whole (a temporary file beside it, flushed to disk, renamed
    over it) with mode 0600. The runbook's fleet report and plan name senders, logins and hosts.
  - Runs in the controller's own process (an action plugin) - no module run, no copy per file.
  - Never reports a change - the documents are the run's output, not a change to a managed host - and writes in check
    mode too.
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Writes the files in check mode too - they are the run's documents on the controller; nothing on a managed
      host changes.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  dir:
    description: The directory on the controller (a relative path is taken from the directory C(ansible-playbook) runs in).
    type: path
    required: true
  files:
    description: The files to write, each C(name) (a plain file name, no directory part) and C(content) (text).
    type: list
    elements: dict
    required: true
notes:
  - Use C(run_once) - the files are the same for every host.
seealso:
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: The fleet report, private
  mailops.postfix.private_files:
    dir: "{{ playbook_dir }}/mailops-report"
    files:
      - {name: report.json, content: "{{ report | to_nice_json }}"}
  run_once: true
"""

RETURN = r"""
dir:
  description: The directory written to.
  returned: success
  type: str
  sample: /home/ops/mailops-report
files:
  description: The paths written.
  returned: success
  type: list
  elements: str
  sample: [/home/ops/mailops-report/report.json]
"""
