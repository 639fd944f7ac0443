#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: postfix_incident
short_description: Open a Postfix incident window that holds all new mail, and end it, restoring main.cf exactly
version_added: 0.1.0
description:
  - O(state=open) starts an incident on one Postfix instance - or continues the one already open there - and
    opens its B(window) - from then on every new message is put on hold as it arrives, whatever its entry
    point (smtpd, C(sendmail) through pickup, qmqpd) and including Postfix's own bounces and notices, until
    the window is ended.
  - The window is one C(regexp) table with the single rule C(/^/ HOLD), added B(last) to C(header_checks)
    (the host's own header checks still decide first, so their REJECT and DISCARD rules still apply), with
    C(bounce) and C(notify) added to C(internal_mail_filter_classes); then Postfix is reloaded.
  - Opening also records the host's B(earlier hold) - what is on hold before the incident, read from the
    hold queue directory - in the incident's ledger (C(STATE_DIR/INSTANCE/incident.json), mode 0600), so
    that M(mailops.postfix.postfix_queue_action) with its C(incident) option never releases or deletes it.
    A new incident started after an earlier one whose leftovers are still on hold takes them over instead.
  - O(state=closed) ends the window - what opening it added is removed from main.cf (a parameter nobody
    changed meanwhile gets its exact original value back, or is unset again), Postfix is reloaded - and
    keeps the ledger (the runbook's verify reads it). Mail held by the window stays on hold until released.
  - A real change writes one line to Postfix's log (C(postlog), tag C(mailops.postfix)).
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - mailops.postfix.postfix.INSTANCE
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what opening or ending would change, and the main.cf parameters before and after.
  diff_mode:
    support: full
    details: The window's main.cf parameters before and after.
  platform:
    platforms: posix
options:
  state:
    description:
      - V(open) opens the incident and its window (or continues an open one; nothing changes then).
      - V(closed) ends the window (nothing changes when it is already ended, or there is no incident).
    type: str
    required: true
    choices: [open, closed]
  incident_id:
    description:
      - The incident's ID (letters, digits, C(.), C(_), C(:), C(-); at most 64), recorded in the ledger and the
        log line. Default - C(incident-<epoch seconds>).
      - When an incident is already open on the instance, it is continued under its own ID (the new ID is
        recorded in its history) - one incident per instance at a time.
    type: str
  window:
    description:
      - Open the window. V(false) records the incident (its ledger and earlier hold) without changing main.cf,
        for hosts whose main.cf another system rewrites (Zimbra's zmconfigd), where new mail must be held with
        that system's own tools.
      - Ignored when an incident is continued (it keeps what it was opened with).
    type: bool
    default: true
  state_dir:
    description: Where the ledgers live on the host, one directory per instance (mode 0700).
    type: path
    default: /var/lib/mailops-postfix
  operator:
    description: Who opens or ends the window, for the ledger and the log line. The collection's action plugin fills
      it with the controller's user when it is not given.
    type: str
notes:
  - Needs root (C(become=true)) - it reads the hold queue directory and changes main.cf.
  - O(source) is accepted, unused, so that one set of instance options serves every module of the collection's
    action group.
  - Limits of the window - a message already in delivery when the window opens can still leave; a message that
    an old cleanup process finishes during the reload is not held (the runbook's hold phase holds it right
    after); services with C(receive_override_options=no_header_body_checks) skip it (a warning names them); a
    table of the host's own that matches every header line with C(DUNNO) or C(OK) shadows it.
  - main.cf is changed with C(postconf -e)/C(postconf -X), which replace the file whole; the new file's
    modification time is then set three seconds back, so that the reload and the commands that follow do not
    pause "to let main.cf cool down" (about 2 seconds each time). A main.cf that someone else wrote in place
    meanwhile is left as it is.
seealso:
  - module: mailops.postfix.postfix_queue_action
  - name: header_checks(5)
    description: The HOLD action of header checks.
    link: https://www.postfix.org/header_checks.5.html
"""

EXAMPLES = r"""
- name: Open the incident window - new mail is held from now on
  mailops.postfix.postfix_incident:
    state: open
    incident_id: ticket-4711
  become: true

- name: End it - main.cf as it was
  mailops.postfix.postfix_incident:
    state: closed
  become: true
"""

RETURN = r"""
incident:
  description: The incident as the ledger has it after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    incident_id:
      description: The incident's ID (null when there is no incident).
      type: str
      sample: ticket-4711
    ledger:
      description: The ledger file on the host.
      type: str
      sample: /var/lib/mailops-postfix/postfix/incident.json
    instance:
      description: The instance (C(name), C(config_dir), C(queue_directory)).
      type: dict
      sample: {"name": "postfix", "config_dir": "/etc/postfix", "queue_directory": "/var/spool/postfix"}
    opened:
      description: When the incident opened (epoch seconds).
      type: int
      sample: 1795960200
    window:
      description: Whether the incident has a window.
      type: bool
      sample: true
    window_open:
      description: Whether its window holds new mail now.
      type: bool
      sample: true
    window_ended:
      description: When the window was ended (epoch seconds), null while it is open.
      type: int
      sample: null
    quarantine:
      description: How many messages were on hold before the incident (the earlier hold, kept out of the runbook's actions).
      type: int
      sample: 5
    held:
      description: Messages the runbook has held so far (recorded by postfix_queue_action).
      type: int
      sample: 260
    window_arrivals:
      description: Messages recorded as held by the window.
      type: int
      sample: 0
    purged:
      description: Messages the runbook has purged so far.
      type: int
      sample: 0
    released:
      description: Messages the runbook has released so far.
      type: int
      sample: 0
    parameters:
      description: The window's main.cf parameters after the run.
      type: dict
      sample: {"header_checks": "regexp:/etc/postfix/mailops_incident_window.regexp",
               "internal_mail_filter_classes": "bounce, notify"}
    continued:
      description: Whether an incident that was already open was continued.
      type: bool
      sample: false
    bypassed_by:
      description: Services whose mail skips header checks, which the window therefore does not hold.
      type: list
      elements: str
      sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.postfix.plugins.module_utils import _incident, _window
from ansible_collections.mailops.postfix.plugins.module_utils._argspec import instance_argument_spec
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI


def argument_spec():
    spec = instance_argument_spec()
    spec.update(
        state=dict(type="str", required=True, choices=["open", "closed"]),
        incident_id=dict(type="str"),
        window=dict(type="bool", default=True),
        state_dir=dict(type="path", default=_incident.DEFAULT_STATE_DIR),
        operator=dict(type="str"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    step = _window.open_incident if module.params["state"] == "open" else _window.end_window
    try:
        changed, result, diff, warnings = step(PostfixCLI.from_params(module.params), module.params, module.check_mode,
                                               _incident.now())
    except (MailopsError, OSError) as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    extra = {"diff": diff} if module._diff and diff else {}
    module.exit_json(changed=changed, incident=result, **extra)


if __name__ == "__main__":
    main()
