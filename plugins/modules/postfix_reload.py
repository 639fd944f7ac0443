#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: postfix_reload
short_description: Reload a Postfix instance and return once no mail is accepted with its old settings
version_added: 0.1.0
description:
  - Runs C(postfix -c CONFIG_DIR reload) - always with C(-c), so that on a host with postmulti's
    C(multi_instance_wrapper) only this instance is reloaded - and returns when the reload has taken effect
    for mail coming in, not when the command exits.
  - Postfix's reload does not wait - the master asks its children to exit, and a busy one exits only once it is
    done - an C(smtpd) at the end of its client's session, a C(cleanup) after its message - applying the old
    settings (restrictions, access maps, header checks) until then. A client that connected just before the reload
    of a block can still have its message accepted after the reload returned.
  - So this module then waits until every C(smtpd), C(qmqpd) and C(cleanup) process of the instance that its master
    started before the reload has exited (read from C(/proc)), at most O(wait_timeout) seconds. Processes
    still running then are named in RV(still_running) and in a warning; the task does not fail - the reload
    itself succeeded, and a client holding one session open for longer is not an error.
  - What the runbook's fix role runs when something changed (its handler C(mailops_postfix_reload)), so that the
    purge that follows lists the queue only once no session can still deliver with the old settings.
  - Postfix's reload also starts a check of the whole queue in the background (C(postsuper &)); the module does
    not wait for that.
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - mailops.postfix.postfix.INSTANCE
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports that the instance would be reloaded, and does not reload it.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  wait_timeout:
    description:
      - At most how many seconds to wait for the processes started before the reload to exit. V(0) does not wait
        (RV(still_running) then names those found).
    type: int
    default: 60
notes:
  - Needs root (C(become=true)) - C(postfix reload) does.
  - The wait needs Linux's C(/proc); without it the module returns as soon as the reload command does.
  - O(source) is accepted, unused, so that one set of instance options serves every module of the collection's
    action group.
seealso:
  - module: mailops.postfix.postfix_block
  - module: mailops.postfix.postfix_incident
  - name: postfix(1)
    description: The reload command.
    link: https://www.postfix.org/postfix.1.html
"""

EXAMPLES = r"""
# A handler: reload after your own main.cf change, and go on only once no session still uses the old settings
- name: Reload Postfix
  mailops.postfix.postfix_reload:
  become: true

- name: Reload the second instance, waiting at most 10 seconds for the old sessions
  mailops.postfix.postfix_reload:
    config_dir: /etc/postfix-out
    wait_timeout: 10
  become: true
"""

RETURN = r"""
instance:
  description: The instance reloaded.
  returned: always
  type: dict
  sample: {"name": "postfix", "config_dir": "/etc/postfix", "queue_directory": "/var/spool/postfix"}
waited_for:
  description: The C(smtpd), C(qmqpd) and C(cleanup) processes its master had started before the reload and that were
    still running right after it (empty in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: The process ID.
      type: int
    command:
      description: The daemon, as master.cf's command column names it.
      type: str
  sample: [{"pid": 4242, "command": "smtpd"}]
still_running:
  description: Those of RV(waited_for) still running when O(wait_timeout) ran out - what they accept gets the old
    settings.
  returned: always
  type: list
  elements: dict
  sample: []
seconds:
  description: How long the module waited for them.
  returned: always
  type: float
  sample: 0.35
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.postfix.plugins.module_utils._argspec import instance_argument_spec
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import INBOUND_DAEMONS, PostfixCLI


def main():
    spec = instance_argument_spec()
    spec.update(wait_timeout=dict(type="int", default=60))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if module.params["wait_timeout"] < 0:
        module.fail_json(msg="wait_timeout must be 0 or more seconds, not %d. Nothing was reloaded."
                         % module.params["wait_timeout"])
    try:
        cli = PostfixCLI.from_params(module.params)
        instance = cli.instance()
        shown = {key: instance[key] for key in ("name", "config_dir", "queue_directory")}
        if module.check_mode:
            module.exit_json(changed=True, instance=shown, waited_for=[], still_running=[], seconds=0.0)
        outcome = cli.reload(instance["config_dir"], instance["queue_directory"], module.params["wait_timeout"],
                             INBOUND_DAEMONS)
    except (MailopsError, OSError) as exc:
        module.fail_json(msg=str(exc))
    for warning in outcome.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=True, instance=shown, **outcome)


if __name__ == "__main__":
    main()
