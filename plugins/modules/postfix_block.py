#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: postfix_block
short_description: Refuse senders, SMTP clients, SASL logins and local submitters on a Postfix instance
version_added: 0.1.0
description:
  - Stops the cause of a spam incident at the door, in one run on the host - what the runbook's fix role does with it.
  - For each kind with entries - O(senders), O(clients), O(sasl_users) - writes the access(5) map this module owns
    (rewritten whole, one C(KEY ACTION) line per entry, the action O(reject_action)), compiles it with C(postmap) when
    it changed or its indexed file is missing or older than it, and puts the access check (C(check_sender_access),
    C(check_client_access), C(check_sasl_access)) B(first) in C(smtpd_sender_restrictions) or
    C(smtpd_client_restrictions) with C(postconf -e) - only when that table is not in the list yet, so a list the
    operator arranged otherwise is left as it is.
  - A kind given no entries is not touched - its map keeps what an earlier run wrote.
  - Mail submitted with C(sendmail) does not pass smtpd - O(local_users) are refused by putting C(!user) ahead of
    C(authorized_submit_users); sendmail then refuses their submissions at once (it reads that list each time).
  - Every map is written and compiled before main.cf names it, so a failure part-way leaves no restriction
    pointing at a missing table. Bad entries (a second field, the null sender, a CIDR in an indexed map) fail the
    task before anything changes.
  - Does not reload Postfix - RV(reload) says whether smtpd needs it (the role's handler reloads).
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - mailops.postfix.postfix.INSTANCE
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what would be written, compiled and changed in main.cf, and changes nothing.
  diff_mode:
    support: full
    details: Each map file and the main.cf parameters, before and after.
  platform:
    platforms: posix
options:
  senders:
    description: Envelope senders to refuse at smtpd, as access(5) keys (C(user@domain), C(@domain), C(domain), C(user@)).
    type: list
    elements: str
    default: []
  clients:
    description: SMTP clients to refuse, as access(5) keys (an IP address, an address prefix such as C(10.1.2), a host or
      domain name); an indexed map does not understand CIDR.
    type: list
    elements: str
    default: []
  sasl_users:
    description:
      - SASL logins to refuse at smtpd (exact names, as C(sasl_username) records them), whatever envelope sender they
        forge - C(check_sasl_access), Postfix 2.11 and later.
    type: list
    elements: str
    default: []
  local_users:
    description: Local user names that may no longer submit mail with C(sendmail) (a compromised web application's user).
    type: list
    elements: str
    default: []
  reject_action:
    description:
      - The access(5) action for every entry - one that refuses (C(REJECT), C(DEFER), C(DEFER_IF_REJECT),
        C(DEFER_IF_PERMIT), C(DISCARD), C(HOLD), or a 4xx/5xx code, with an optional text).
    type: str
    default: REJECT blocked by the mail administrators during an incident
  map_type:
    description: The map type for C(postmap) (one that C(postconf -m) lists).
    type: str
    choices: [hash, btree, lmdb, cdb, dbm, sdbm]
    default: hash
  sender_map:
    description: The sender access map this module owns. Default - C(CONFIG_DIR/mailops_sender_access).
    type: path
  client_map:
    description: The client access map this module owns. Default - C(CONFIG_DIR/mailops_client_access).
    type: path
  sasl_map:
    description: The SASL login access map this module owns. Default - C(CONFIG_DIR/mailops_sasl_access).
    type: path
notes:
  - Needs root (C(become=true)) - it writes into the configuration directory and changes main.cf.
  - CONFIG_DIR is O(config_dir), else the instance's own C(config_directory).
  - A service with its own C(smtpd_sender_restrictions) override in master.cf (a submission port, say) does not use
    main.cf's list - block there yourself.
  - O(source) is accepted, unused, so that one set of instance options serves every module of the collection's
    action group.
seealso:
  - module: mailops.postfix.postfix_incident
  - name: access(5)
    description: The access table format and its actions.
    link: https://www.postfix.org/access.5.html
"""

EXAMPLES = r"""
- name: Refuse the spammer and the compromised login, then reload
  mailops.postfix.postfix_block:
    senders: [spammer@example.com, "@spam.example"]
    sasl_users: [intern@example.org]
  become: true
  notify: Reload Postfix

- name: Stop a web application's user submitting mail with sendmail (no reload needed)
  mailops.postfix.postfix_block:
    local_users: [www-data]
  become: true
"""

RETURN = r"""
config_dir:
  description: The instance's configuration directory the maps and parameters belong to.
  returned: always
  type: str
  sample: /etc/postfix
maps:
  description: One entry per kind given entries, in the order senders, clients, SASL logins.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: C(sender), C(client) or C(sasl).
      type: str
    path:
      description: The map file.
      type: str
    entries:
      description: How many entries it has (each key once).
      type: int
    written:
      description: Whether the file was (or in check mode would be) rewritten.
      type: bool
    compiled:
      description: Whether C(postmap) ran (or would run).
      type: bool
    parameter:
      description: The restriction list its check belongs in.
      type: str
    check:
      description: The restriction, as it is (or is put) in that list.
      type: str
  sample: [{"kind": "sender", "path": "/etc/postfix/mailops_sender_access", "entries": 1, "written": true,
            "compiled": true, "parameter": "smtpd_sender_restrictions",
            "check": "check_sender_access hash:/etc/postfix/mailops_sender_access"}]
parameters:
  description: The main.cf parameters changed (or that would be), each with its value before and after.
  returned: always
  type: dict
  sample: {"smtpd_sender_restrictions": {"before": "", "after": "check_sender_access hash:/etc/postfix/mailops_sender_access"}}
local_users:
  description: The local users refused at sendmail (given and already refused alike).
  returned: always
  type: list
  elements: str
  sample: [www-data]
reload:
  description: Whether smtpd needs a C(postfix reload) for the change to take effect (a map or a restriction list
    changed; C(authorized_submit_users) alone needs none).
  returned: always
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.postfix.plugins.module_utils import _access, _blocking
from ansible_collections.mailops.postfix.plugins.module_utils._argspec import instance_argument_spec
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._postfix_cli import PostfixCLI


def argument_spec():
    spec = instance_argument_spec()
    for block in _access.BLOCKS:
        spec[block.option] = dict(type="list", elements="str", default=[])
        spec[block.map_option] = dict(type="path")
    spec.update(
        local_users=dict(type="list", elements="str", default=[]),
        reject_action=dict(type="str", default=_access.DEFAULT_REJECT_ACTION),
        map_type=dict(type="str", choices=list(_access.INDEXED_MAP_TYPES), default="hash"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        changed, result, diffs = _blocking.block(PostfixCLI.from_params(module.params), module.params, module.check_mode)
    except (MailopsError, OSError) as exc:
        module.fail_json(msg=str(exc))
    extra = {"diff": diffs} if module._diff and diffs else {}
    module.exit_json(changed=changed, **dict(result, **extra))


if __name__ == "__main__":
    main()
