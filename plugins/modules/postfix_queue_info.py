#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: postfix_queue_info
short_description: Summarise and list the Postfix mail queue, or a precise selection of it
version_added: 0.1.0
description:
  - Lists the queue of one Postfix instance with C(postqueue -j) (or C(postqueue -p) text), selects
    messages with the shared selection options, and returns a summary (counts and bytes by queue,
    qshape-style age buckets, top senders, sender and recipient domains, delay reasons, the oldest
    message) and the first O(limit) selected messages; with O(inspect), who is sending them (SASL logins, clients,
    local uids, Subjects).
  - Reads only; never changes the queue, so it runs the same in check mode.
  - Listing the queue needs no root privileges while Postfix runs; root can also list a stopped Postfix.
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - mailops.postfix.postfix.INSTANCE
  - mailops.postfix.postfix.SELECTION
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  limit:
    description:
      - Return at most this many selected messages in RV(messages), in listing order. The summary
        always covers every selected message.
      - V(0) returns the summary only.
    type: int
    default: 20
  summary_top:
    description:
      - Length of each top list of the summary (senders, domains, reasons).
    type: int
    default: 10
  subsets:
    description:
      - Further selections summarised in the same pass over the listing, each over the whole queue (not
        narrowed by the selection options) - a dictionary that maps a name to a selection, itself a dictionary
        of the selection options. Returned in RV(subsets) under the same names.
      - For example the junk beside the whole queue, with one listing instead of two.
    type: dict
  inspect:
    description:
      - Also summarise who is sending the selected messages, in RV(origins), by reading their queue files
        (C(postcat -q -e), a thousand IDs per run; the body is never read).
      - V(origin) - per way in (V(smtp), V(local), V(internal)), the top SASL logins and original clients, with
        messages and bytes.
      - V(headers) - also the top local uids (of mail submitted with sendmail) and Subjects (C(postcat -q -eh)).
      - Without it the module reads only the listing (and the queue files that origin and content options need).
    type: list
    elements: str
    choices: [headers, origin]
  inspect_max:
    description:
      - With O(inspect), read at most this many queue files to say who is sending; V(0) reads them all.
      - When the selection matches more, an even sample of this many is read (every Nth message of the listing, so
        the same queue gives the same sample) and RV(origins) says so with C(sampled_from). Its counts are the
        sample's, not estimates of the whole; the shares are what an admin reads from them. Reading a queue file
        costs about 0.1 ms, so 10,000 take about a second and 100,000 about ten.
      - Has no effect when the selection itself reads queue files (origin and content options) - those are described
        whole.
    type: int
    default: 0
  incident:
    description:
      - Also report the instance's incident (M(mailops.postfix.postfix_incident)) against this listing - is
        its window open, is the earlier hold still on hold (same IDs), what the incident held, purged and
        released, and what it holds that is accounted for nowhere (RV(incident)). Nothing is changed in the
        queue or the ledger.
      - What the origin and content options of the selection and of O(subsets) found in the queue files read is
        kept on the host beside the ledger (C(STATE_DIR/INSTANCE/verdicts.json), mode 0600; not in check mode), so
        that the incident's hold and purge (M(mailops.postfix.postfix_queue_action) with O(incident)) do not read the
        same queue files again. A verdict is used only while the listing shows the same message (queue ID, arrival
        time and size) and for the same origin and content options; anything else is read. The count of each
        subset among the incident's messages still on hold takes the verdicts of this run's own reading. Should the
        file not be writable, a warning says so and the result is unchanged.
    type: dict
    suboptions:
      state_dir:
        description: Where the ledgers live on the host.
        type: path
        default: /var/lib/mailops-postfix
  list_queue:
    description:
      - V(false) reads only the instance (RV(instance), and RV(incident) without the listing's part) and does
        not list the queue - a quick check that the instance, its tools and its configuration are there.
        The selection options are still checked.
    type: bool
    default: true
notes:
  - The listing is not a snapshot (Postfix reads its queue directories one after another); a message
    moved meanwhile may be listed twice and is then counted once (RV(duplicates)).
seealso:
  - name: postqueue(1)
    description: The Postfix queue listing command.
    link: https://www.postfix.org/postqueue.1.html
  - name: QSHAPE_README
    description: Age buckets as qshape shows them.
    link: https://www.postfix.org/QSHAPE_README.html
"""

EXAMPLES = r"""
- name: Summarise the whole queue
  mailops.postfix.postfix_queue_info:
    limit: 0
  register: queue

- name: Show the count per queue
  ansible.builtin.debug:
    msg: "{{ queue.summary.by_queue }}"

- name: Deferred mail to one domain, older than two hours
  mailops.postfix.postfix_queue_info:
    queues: [deferred]
    recipient_domain: example.net
    older_than: 2h

- name: Mail from a compromised account, as JSON-like message list
  mailops.postfix.postfix_queue_info:
    sender: webmaster@example.org
    limit: 100
  register: junk

- name: Who is sending? Per SASL login, client, local uid and Subject
  mailops.postfix.postfix_queue_info:
    queues: [deferred, hold]
    inspect: [origin, headers]
    inspect_max: 10000     # a queue of 100,000: every tenth message read (about a second, not ten)
    limit: 0
  register: who

- name: A compromised login's mail, whatever envelope sender it forges
  mailops.postfix.postfix_queue_info:
    sasl_username: [alice@example.org]
    limit: 0

- name: A web script's mail, submitted with sendmail by www-data (uid 33)
  mailops.postfix.postfix_queue_info:
    origin: local
    local_uid: [33]
    header_regex:
      X-PHP-Originating-Script: 'wp-mailer'

- name: Bounces stuck on one delay reason
  mailops.postfix.postfix_queue_info:
    sender: MAILER-DAEMON
    reason_regex: '.*Connection refused.*'

- name: A second instance created with postmulti
  mailops.postfix.postfix_queue_info:
    config_dir: /etc/postfix-out

- name: Zimbra's Postfix
  mailops.postfix.postfix_queue_info:
    postfix_bin_dir: /opt/zimbra/common/sbin
"""

RETURN = r"""
summary:
  description: Summary of the selected messages (the whole queue when no selection option is given).
  returned: when the queue was listed (O(list_queue))
  type: dict
  contains:
    total:
      description: Number of selected messages.
      type: int
      sample: 1532
    bytes:
      description: Sum of their sizes, in bytes.
      type: int
      sample: 4893211
    recipients:
      description: Number of their recipients.
      type: int
      sample: 20411
    forced_expire:
      description: How many are marked for forced expiry (C(postsuper -e)).
      type: int
      sample: 0
    by_queue:
      description:
        - Messages and bytes per queue, in Postfix's order. Text listings put deferred, incoming and
          maildrop mail under C(unknown).
      type: dict
      sample: {"deferred": {"messages": 1500, "bytes": 4800000}, "hold": {"messages": 32, "bytes": 93211}}
    age_buckets:
      description:
        - Messages by age, in qshape's buckets; C(label) is the bucket's upper bound in minutes
          (C(5) holds ages under 5 minutes, C(1280+) ages of 1280 minutes and more).
      type: list
      elements: dict
      sample: [{"label": "5", "max_age_minutes": 5, "messages": 12}, {"label": "1280+", "max_age_minutes": null, "messages": 0}]
    age_unknown:
      description: Messages whose arrival time is unknown (old Postfix printed C(??)).
      type: int
      sample: 0
    oldest:
      description: The message that arrived first, or V(null) for an empty selection.
      type: dict
      sample: {"queue_id": "767F0160023", "queue_name": "deferred", "arrival_time": 1795959427, "age_seconds": 773, "sender": "alice@example.org"}
    top_senders:
      description: Senders with the most messages (C(sender), C(messages), C(bytes)).
      type: list
      elements: dict
      sample: [{"sender": "MAILER-DAEMON", "messages": 3, "bytes": 2460}]
    top_sender_domains:
      description:
        - Sender domains with the most messages (C(domain), C(messages), C(bytes)).
        - The null sender counts as C(MAILER-DAEMON), a sender without domain as C((local)).
      type: list
      elements: dict
      sample: [{"domain": "example.org", "messages": 12, "bytes": 2106503}]
    top_recipient_domains:
      description: Recipient domains by messages, with their recipient count (C(domain), C(messages), C(recipients)).
      type: list
      elements: dict
      sample: [{"domain": "example.net", "messages": 15, "recipients": 71}]
    top_reasons:
      description: Delay reasons by messages, with their recipient count (C(reason), C(messages), C(recipients)).
      type: list
      elements: dict
      sample: [{"reason": "connect to mx.example.net[192.0.2.1]:25: Connection refused", "messages": 9, "recipients": 69}]
messages:
  description:
    - The first O(limit) selected messages, with the keys of C(postqueue -j).
  returned: when the queue was listed (O(list_queue))
  type: list
  elements: dict
  contains:
    queue_name:
      description: V(maildrop), V(incoming), V(active), V(deferred) or V(hold); V(null) when a text listing cannot tell.
      type: str
      sample: deferred
    queue_id:
      description: The queue ID.
      type: str
      sample: 32D2F160014
    arrival_time:
      description: Arrival time, in seconds since the epoch; V(null) when unknown.
      type: int
      sample: 1795959474
    message_size:
      description: Size in bytes.
      type: int
      sample: 389
    forced_expire:
      description: Whether the message is marked for forced expiry.
      type: bool
      sample: false
    sender:
      description: Envelope sender; V(MAILER-DAEMON) for the null sender.
      type: str
      sample: alice@example.org
    recipients:
      description: Recipients; C(delay_reason) is present only for a delayed recipient (Postfix 3.11 adds C(orig_address) and C(bounce_reason)).
      type: list
      elements: dict
      sample: [{"address": "bob@example.net", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:2: Connection refused"}]
subsets:
  description: With O(subsets), a summary (as RV(summary)) per named selection.
  returned: when subsets is given and the queue was listed
  type: dict
  sample: {"junk": {"total": 220, "by_queue": {"deferred": {"messages": 220, "bytes": 270000}}}}
incident:
  description:
    - With O(incident), the incident of the instance (V(null) when there is none) - C(incident_id), C(ledger),
      C(opened), C(window), C(window_open), C(window_ended), C(quarantine) (C(recorded), C(on_hold),
      C(missing) - IDs of the earlier hold no longer on hold, C(missing_count)), C(held), C(window_arrivals),
      C(purged), C(released), C(junk_held) (the bound of a purge, counted by the incident's first purge; null
      until then), C(left_on_hold) (messages of the incident still on hold, the earlier
      hold aside) and C(left_on_hold_matching) (of those, how many match each of O(subsets)), C(unaccounted) and
      C(unaccounted_count) (held by the incident, yet neither purged, released nor on hold).
  returned: when incident is given
  type: dict
  sample: {"incident_id": "ticket-4711", "window_open": false, "quarantine": {"recorded": 5, "on_hold": 5,
           "missing": [], "missing_count": 0}, "held": 260, "window_arrivals": 31, "purged": 231, "released": 60,
           "left_on_hold": 0, "unaccounted": [], "unaccounted_count": 0}
origins:
  description:
    - With O(inspect), who is sending the selected messages - C(read) (queue files read; with C(sampled_from) an
      even sample of that many selected messages, O(inspect_max)), C(origins) (per way in -
      V(smtp), V(local), V(internal), with C(messages) and C(bytes)), C(top_sasl_usernames), C(top_clients) (the
      original client's address), and with V(headers) C(top_local_uids) and C(top_subjects) (decoded), each with
      C(messages) and C(bytes), at most O(summary_top) rows.
  returned: when inspect is given and the queue was listed
  type: dict
  sample: {"read": 1532, "origins": [{"origin": "smtp", "messages": 1500, "bytes": 4800000}],
           "top_sasl_usernames": [{"sasl_username": "alice@example.org", "messages": 1400, "bytes": 4480000}],
           "top_clients": [{"client_address": "203.0.113.9", "messages": 1400, "bytes": 4480000}]}
content:
  description:
    - When queue files were read (origin or content options, O(inspect)) - C(tier) (V(origin), V(headers) or
      V(body) - what was read), C(read), and C(gone) (messages gone between the listing and their reading, never
      selected).
  returned: when queue files were read
  type: dict
  sample: {"tier": "origin", "read": 1532, "gone": 2}
listed_at:
  description: The host's clock when the queue was listed (or the instance read), in seconds since the epoch.
  returned: success
  type: float
  sample: 1795960200.25
listed:
  description: Number of messages in the listing, before selection.
  returned: when the queue was listed (O(list_queue))
  type: int
  sample: 20000
duplicates:
  description: Messages listed twice while the queue changed, counted once.
  returned: when the queue was listed (O(list_queue))
  type: int
  sample: 0
selection:
  description: The selection options in effect, normalised (durations in seconds, sizes in bytes).
  returned: success
  type: dict
  sample: {"recipient_domain": ["example.net"], "older_than": 7200, "recipient_match": "any"}
postfix_version:
  description: The instance's C(mail_version).
  returned: success
  type: str
  sample: 3.7.11
source:
  description: How the queue was listed, V(json) or V(text).
  returned: success
  type: str
  sample: json
instance:
  description: The instance the module read.
  returned: success
  type: dict
  contains:
    name:
      description: C(multi_instance_name), or V(postfix) for an unnamed instance.
      type: str
      sample: postfix
    config_dir:
      description: Its configuration directory.
      type: str
      sample: /etc/postfix
    queue_directory:
      description: Its queue directory.
      type: str
      sample: /var/spool/postfix
    running:
      description:
        - Whether its master process runs, decided as C(postfix status) decides it - the master holds a lock on
          C(pid/master.pid) in the queue directory while it runs (a master that exited but is not yet reaped does not).
        - Root tests the lock; other users find it in C(/proc/locks) (Linux). V(null) when neither is possible.
      type: bool
      sample: true
    running_reason:
      description: Why RV(instance.running) is what it is, for the operator.
      type: str
      sample: "master.pid is not locked: no master runs (pid 4242 is a zombie: it exited and is not yet reaped)"
    tools:
      description: The Postfix tools found for this instance (O(postfix_bin_dir), O(postfix_tool_paths), else the search path).
      type: dict
      sample: {"postconf": "/usr/sbin/postconf", "postfix": "/usr/sbin/postfix", "postmap": "/usr/sbin/postmap"}
    map_types:
      description: The lookup table types this Postfix supports (C(postconf -m)).
      type: list
      elements: str
      sample: [btree, cdb, hash, lmdb, regexp]
    managed_by:
      description: The system that rewrites this instance's main.cf (V(zimbra)), where C(postconf -e) changes do not last; V(null) otherwise.
      type: str
      sample: null
  sample: {"name": "postfix", "config_dir": "/etc/postfix", "queue_directory": "/var/spool/postfix", "running": true,
           "running_reason": "master.pid is locked by the master (pid 4242)"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.postfix.plugins.module_utils import _incident
from ansible_collections.mailops.postfix.plugins.module_utils._argspec import shared_argument_spec
from ansible_collections.mailops.postfix.plugins.module_utils._errors import MailopsError
from ansible_collections.mailops.postfix.plugins.module_utils._info import INSPECT, run_info


def argument_spec():
    spec = shared_argument_spec()
    spec.update(
        limit=dict(type="int", default=20),
        summary_top=dict(type="int", default=10),
        subsets=dict(type="dict"),
        inspect=dict(type="list", elements="str", choices=sorted(INSPECT)),
        inspect_max=dict(type="int", default=0),
        incident=dict(type="dict", options=dict(state_dir=dict(type="path", default=_incident.DEFAULT_STATE_DIR))),
        list_queue=dict(type="bool", default=True),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result, warnings = run_info(module.params, module.check_mode)
    except MailopsError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
