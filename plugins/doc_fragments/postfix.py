# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function


class ModuleDocFragment(object):
    """Documents plugins/module_utils/_argspec.py: the instance and selection options."""

    INSTANCE = r"""
options:
  config_dir:
    description:
      - Configuration directory of the Postfix instance, passed to every command as C(-c DIR).
      - Use it for a second instance made with C(postmulti) (for example C(/etc/postfix-out)).
      - Without it, the default instance (or the one named by E(MAIL_CONFIG)) is used.
    type: path
  postfix_bin_dir:
    description:
      - Directory holding C(postconf), C(postqueue), C(postsuper), C(postcat), C(sendmail), C(postkick), C(postlog), C(postfix) and C(postmap), for layouts
        such as Zimbra's C(/opt/zimbra/common/sbin).
      - Without it, the tools are searched in E(PATH), then C(/usr/sbin), C(/usr/bin),
        C(/usr/local/sbin) and C(/usr/local/bin).
    type: path
  postfix_tool_paths:
    description:
      - Full path of a single tool, overriding O(postfix_bin_dir) and the search for that tool.
    type: dict
    suboptions:
      postconf:
        description: Path of C(postconf).
        type: path
      postqueue:
        description: Path of C(postqueue).
        type: path
      postsuper:
        description: Path of C(postsuper).
        type: path
      postcat:
        description: Path of C(postcat).
        type: path
      sendmail:
        description: Path of Postfix's C(sendmail) (used to re-inject archived mail).
        type: path
      postkick:
        description: Path of C(postkick) (used to wake pickup after a requeue).
        type: path
      postlog:
        description: Path of C(postlog) (used to write the audit line of a real action to Postfix's log).
        type: path
      postfix:
        description: Path of the C(postfix) command (used to reload the instance when an incident window opens or ends).
        type: path
      postmap:
        description: Path of C(postmap) (reported in RV(mailops.postfix.postfix_queue_info#module:instance.tools) for the runbook's fix).
        type: path
  source:
    description:
      - How the queue is listed.
      - V(auto) uses C(postqueue -j) (JSON) from Postfix 3.1 on, and C(postqueue -p) (text) before.
      - V(json) fails on Postfix older than 3.1.
      - V(text) cannot tell deferred, incoming and maildrop mail apart (their C(queue_name) is
        V(null)), and gives arrival times to the second in local time, the year inferred.
    type: str
    choices: [auto, json, text]
    default: auto
"""

    SELECTION = r"""
options:
  queue_ids:
    description:
      - Select these queue IDs. Each must have Postfix's queue ID syntax (short upper-case hex,
        or long base-52); anything else is refused before any command runs.
      - IDs are unique only within one instance, and short IDs can be reused.
    type: list
    elements: str
  queues:
    description:
      - Select messages in these queues.
      - With O(source=text), an entry without a marker can be in V(deferred), V(incoming) or
        V(maildrop); it matches when any of those is named.
    type: list
    elements: str
    choices: [maildrop, incoming, active, deferred, hold, corrupt]
  sender:
    description:
      - Select messages from any of these envelope senders (whole address, case-insensitive).
      - The null sender of bounces is listed as V(MAILER-DAEMON).
    type: list
    elements: str
  sender_domain:
    description:
      - Select messages whose sender's domain is one of these. The match ignores case and is
        anchored, so V(example.com) matches neither V(notexample.com) nor V(mx.example.com).
      - A leading dot (V(.example.com)) matches the subdomains of a domain.
    type: list
    elements: str
  sender_regex:
    description:
      - Python regular expression that must match the whole sender address; case is ignored,
        as in Postfix regexp tables.
    type: str
  recipient:
    description:
      - Select messages with any of these recipients (whole address, case-insensitive).
    type: list
    elements: str
  recipient_domain:
    description:
      - Select messages with a recipient in one of these domains (anchored, case-insensitive;
        a leading dot matches subdomains).
    type: list
    elements: str
  recipient_regex:
    description:
      - Python regular expression that must match a whole recipient address; case is ignored.
    type: str
  reason_regex:
    description:
      - Python regular expression that must match a recipient's whole delay reason; case is ignored.
      - Reason text is never matched by any other option. Recipients without a delay reason
        (mail in hold, active, incoming, maildrop) never match.
    type: str
  recipient_match:
    description:
      - How the recipient filters (O(recipient), O(recipient_domain), O(recipient_regex),
        O(reason_regex)) apply to a message with several recipients.
      - V(any) selects the message when any recipient matches; V(all) when every recipient does.
    type: str
    choices: [any, all]
    default: any
  older_than:
    description:
      - Select messages that arrived at least this long ago, for example V(90s), V(30m), V(2h),
        V(3d), V(1w), V(1h30m), or a number of seconds.
      - A message whose arrival time is unknown never matches.
    type: raw
  younger_than:
    description:
      - Select messages that arrived less than this long ago (same format as O(older_than)).
    type: raw
  arrived_before:
    description:
      - Select messages that arrived before this time, in seconds since the epoch by the host's clock (as
        RV(mailops.postfix.postfix_queue_info#module:listed_at) gives it). A message whose arrival time is
        unknown never matches.
      - C(postsuper -r) keeps a message's arrival time.
    type: raw
  arrived_after:
    description:
      - Select messages that arrived at or after this time (same format as O(arrived_before)).
    type: raw
  min_size:
    description:
      - Select messages of at least this size in bytes; suffixes V(k), V(M), V(G) are multiples of 1024.
    type: raw
  max_size:
    description:
      - Select messages of at most this size (same format as O(min_size)).
    type: raw
notes:
  - All given selection options must match. An option given a list matches when any element does.
"""
