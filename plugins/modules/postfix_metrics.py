#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: postfix_metrics
short_description: Write a Postfix instance's queue and incident metrics for node_exporter's textfile collector
version_added: 0.1.0
description:
  - Lists the instance's queue once (C(postqueue -j)) and reads its incident ledger, then writes
    C(mailops_postfix.prom) (C(mailops_postfix_<instance>.prom) for an instance other than the default) into
    O(textfile_dir), atomically (a temporary file in the same directory, renamed over the old one), mode 0644.
  - The metrics, all gauges, all labelled C(postfix_instance) - C(mailops_postfix_queue_messages), C(_queue_bytes),
    C(_queue_oldest_age_seconds) (from the arrival time, never the file time) and C(_queue_messages_by_age) (qshape's
    buckets, label C(age)) per C(queue), every queue written even when empty; C(_hold_messages) by C(held_by)
    (V(incident) - held by the runbook's incident, or arrived in its window - or V(admin)); C(_incident_window_open),
    C(_incident_window_opened_timestamp_seconds); C(_runbook_last_run_timestamp_seconds), C(_runbook_last_run_success)
    and C(_runbook_last_run_messages) per C(phase) (from the ledger); C(_up) (the listing worked),
    C(_master_running), C(_metrics_written_timestamp_seconds), C(_metrics_duration_seconds). No timestamps, no
    sender, domain or login labels.
  - The P(mailops.postfix.metrics#role) role installs the same writer on the host, run every minute by a systemd timer
    or cron, with no controller.
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - mailops.postfix.postfix.INSTANCE
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the queue and returns the text it would write, writing nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  textfile_dir:
    description:
      - node_exporter's textfile directory (its C(--collector.textfile.directory)). It must exist.
    type: path
    default: /var/lib/prometheus/node-exporter
  state_dir:
    description: Where the incident ledgers live (as for M(mailops.postfix.postfix_incident)).
    type: path
    default: /var/lib/mailops-postfix
notes:
  - A listing that fails still writes the file, with C(mailops_postfix_up) 0 and the incident's metrics from the ledger,
    and the module fails - a missing or stale file then means the writer did not run.
  - Listing needs no root while Postfix runs; reading the ledger needs read access to O(state_dir).
seealso:
  - name: node_exporter's textfile collector
    description: How node_exporter reads C(*.prom) files.
    link: https://github.com/prometheus/node_exporter#textfile-collector
"""

EXAMPLES = r"""
- name: Write the queue metrics now
  mailops.postfix.postfix_metrics:
  become: true

- name: A second instance, into another textfile directory
  mailops.postfix.postfix_metrics:
    config_dir: /etc/postfix-out
    textfile_dir: /var/lib/node_exporter/textfile_collector
  become: true
"""

RETURN = r"""
path:
  description: The metrics file written (or, in check mode, that would be).
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/mailops_postfix.prom
series:
  description: How many series the file has.
  returned: always
  type: int
  sample: 84
text:
  description: The file's text.
  returned: always
  type: str
  sample: "# HELP mailops_postfix_queue_messages Messages in the queue.\n# TYPE mailops_postfix_queue_messages gauge\n..."
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.postfix.plugins.module_utils import _incident, _metrics
from ansible_collections.mailops.postfix.plugins.module_utils._argspec import instance_argument_spec
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI


def argument_spec():
    spec = instance_argument_spec()
    spec.update(
        textfile_dir=dict(type="path", default=_metrics.DEFAULT_DIR),
        state_dir=dict(type="path", default=_incident.DEFAULT_STATE_DIR),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if not os.path.isdir(params["textfile_dir"]):
        module.fail_json(msg="textfile_dir %s does not exist: give node_exporter's --collector.textfile.directory"
                         % params["textfile_dir"])
    try:
        result = _metrics.run(PostfixCLI.from_params(params), params["textfile_dir"], params["state_dir"],
                              write=not module.check_mode)
    except (MailopsError, OSError) as exc:
        module.fail_json(msg=str(exc))
    series = sum(1 for line in result["text"].splitlines() if line and not line.startswith("#"))
    outcome = {"path": result["path"], "series": series, "text": result["text"]}
    if result["error"]:
        module.fail_json(msg="the queue could not be listed (the file says up 0): %s" % result["error"], **outcome)
    module.exit_json(changed=not module.check_mode, **outcome)


if __name__ == "__main__":
    main()
