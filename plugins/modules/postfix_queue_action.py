#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

DOCUMENTATION = r"""
module: postfix_queue_action
short_description: Hold, release, requeue, delete, expire or flush a precise selection of the Postfix queue
version_added: 0.1.0
description:
  - Lists the queue again at action time, selects messages with the shared selection options, and acts
    only on what matches now, with C(postsuper -FLAG -) and the IDs on standard input, in batches;
    never one process per message (except O(action=flush), which Postfix allows only one ID at a time).
  - Each message is acted on only in the queue it was listed in (postsuper gets that queue name), so a
    message that moved or vanished since the listing is left alone and reported in RV(vanished).
  - The accounting is what Postfix says it changed (its per-message lines), never a guess.
  - Every queue ID is checked against Postfix's ID syntax before anything runs; a missing ID never
    turns into C(ALL).
author:
  - mailops.postfix contributors (@mailops)
extends_documentation_fragment:
  - mailops.postfix.postfix.INSTANCE
  - mailops.postfix.postfix.SELECTION
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Lists and plans exactly as a real run, and reports the same keys with what would change.
  diff_mode:
    support: full
    details: One line per message, C(ID queue) before and after.
  platform:
    platforms: posix
options:
  action:
    description:
      - V(hold) (C(postsuper -h)) moves mail from incoming, active and deferred to hold. Mail in maildrop
        cannot be held (reported in RV(not_applicable)); mail already held is left alone.
      - A hold of whole queues (the selection is only O(queues), or O(all); no O(exclude), O(plan),
        O(max_messages) or O(expect_count)) runs one C(postsuper -h ALL QUEUE...) for those queues instead of naming
        each ID - a quarter to a third of the cost per message where measured (docs/actions.md). postsuper prints no per-ID lines for ALL, so the IDs
        held are proved from the hold directory, read just before and just after (a listed message now on hold
        that was not before). Mail that entered the queue after the listing is held too, as the selection means,
        but is not in RV(queue_ids) (an incident counts it as arrived in its window). Postfix logs no per-ID
        C(placed on hold) line for it - O(audit_log) and the incident's ledger keep the IDs.
      - Such a hold of queues named in O(queues) (incoming, active, deferred), run as root with no
        O(return_plan) and no C(junk) in O(incident) (both need each message's envelope, arrival time and size),
        lists those queues and hold from their directories instead of C(postqueue) - all it needs is each
        message's queue and ID, and at 100,000 deferred messages the listing costs about what the hold does. See
        RV(listed_from).
      - V(release) (C(postsuper -H)) moves held mail to deferred, keeping its ID. Mail held longer than its
        lifetime would bounce at once; O(long_held) says what to do with it.
      - V(requeue) (C(postsuper -r)) sends mail from incoming, active, deferred and hold through cleanup
        again, with a new queue ID and a new arrival time. The module then wakes pickup
        (C(postkick public pickup W)) so the mail leaves maildrop at once; when pickup cannot be woken
        (Postfix stopped), a warning says so and the requeue stands.
      - V(delete) (C(postsuper -d)) deletes the selected mail, maildrop included.
      - V(expire) (C(postsuper -e), Postfix 3.5 or later) marks mail to be returned to the sender at its
        next delivery attempt; held mail stays held.
      - V(expire_release) (C(postsuper -f), Postfix 3.5 or later) marks mail expired and releases held mail.
      - V(flush) asks for delivery of the selected deferred mail now (C(postqueue -i ID) per message, or
        C(postqueue -f) when the selection is the whole deferred queue).
      - V(archive) saves the selected messages to O(archive_dir) and changes nothing in the queue.
      - V(reinject) submits the messages of an O(archive) again with their envelope (C(sendmail -i -f
        SENDER -- RECIPIENTS)), the way back from a purge; only O(queue_ids) may narrow it. Messages
        already re-injected from that archive are not sent twice.
    type: str
    required: true
    choices: [hold, release, requeue, delete, expire, expire_release, flush, archive, reinject]
  archive_dir:
    description:
      - With O(action=delete) or O(action=archive), save every selected message first, under
        C(archive_dir/<host>/<instance>/<UTC time>[-<incident>]/) - the host's name and, with O(incident), the
        incident's ID in the path, so that hosts sharing one backup directory never write to the same place - one
        C(batch-NNNNN.mbox) per O(batch_size) messages (an mboxrd file - headers and body as Postfix holds them,
        as they would be re-injected, each after a C(From) line, readable with mail tools and grep), each file and
        the directory fsynced before the next batch, and C(manifest.json) (each message's queue_id, queue_name,
        sender, envelope_sender, recipients, arrival_time, message_size, its file, offset and length, and the size
        and sha256 of the content), written last.
      - Archives hold other people's mail. Whatever the umask, the files are created mode 0600 and the
        directories below O(archive_dir) mode 0700; a file is only ever created new, never opened through a
        symbolic link, and the host's and instance's directories, when they exist already, must be real
        directories of the user running the module. O(archive_dir) itself, when it exists, is left as it is (a
        mount point, a link to a backup volume); when it does not, it is made 0700.
      - Only messages archived whole are deleted; if archiving fails (disk full, permissions), nothing
        is deleted. Messages gone before C(postcat) could read them are reported in RV(vanished).
      - Required with O(action=archive); refused with the other actions.
    type: path
  archive_pack:
    description:
      - With O(archive_dir), also pack the finished archive into C(<archive>.tar.gz) beside it (mode 0600, created
        new), to copy it off the host in one file (RV(archive.packed)). The runbook's purge does when
        C(purge_fetch_dir) is set.
    type: bool
    default: false
  archive:
    description:
      - For O(action=reinject), the archive directory (or its C(manifest.json)), of this release's format or the
        earlier one (a C(<queue_id>.eml) per message). Every message's content
        is checked against its sha256 before anything is sent.
      - Required with O(action=reinject), refused with the other actions. O(action=reinject) takes no other
        selection option than O(queue_ids) (a subset of the archive), and no O(exclude), O(incident) or O(plan).
    type: path
  all:
    description:
      - Allow the action on the whole queue when no selection option is given. Without it, an action with
        no selection fails and changes nothing.
    type: bool
    default: false
  max_messages:
    description:
      - Fail, changing nothing, when more messages than this match the selection at action time.
    type: int
  expect_count:
    description:
      - Fail, changing nothing, unless exactly this many messages match the selection at action time.
    type: int
  batch_size:
    description:
      - Queue IDs per C(postsuper) run (a hold of a whole queue is one run, see O(action)).
    type: int
    default: 1000
  batch_pause:
    description:
      - Seconds to wait between batches.
    type: float
    default: 0
  max_active:
    description:
      - For V(requeue), V(release) and V(flush) (and the requeue of long-held mail), wait before each
        batch until the active and incoming queues together hold fewer than this many messages
        (counted in the queue directories), so a large release does not flood them.
    type: int
  max_active_timeout:
    description:
      - Seconds to wait for O(max_active) before failing, with the batches done so far in the result.
    type: int
    default: 600
  long_held:
    description:
      - What O(action=release) does with mail held longer than C(maximal_queue_lifetime)
        (C(bounce_queue_lifetime) for bounces), which C(postsuper -H) would make bounce at once.
      - V(requeue) releases it with C(postsuper -r) instead (new arrival time, new queue ID) and lists it in
        RV(requeued_long_held).
      - V(release) releases it anyway with C(-H).
      - V(fail) refuses the whole action, changing nothing.
    type: str
    choices: [requeue, release, fail]
    default: requeue
  return_ids:
    description:
      - Return the lists of queue IDs - RV(queue_ids), RV(vanished), RV(pending), RV(requeued_long_held).
      - V(false) leaves them out; RV(counts) says how many each list has. RV(not_applicable) and
        RV(skipped_changed), which give a reason for each message, are always returned. On a large queue the lists are
        most of the result, and moving 100,000 IDs to the controller costs more than the action itself
        (docs/performance.md). The IDs stay on the host - in the incident's ledger (with O(incident)), the
        archive's C(manifest.json) (with O(archive_dir)) and Postfix's log (postsuper logs every message it
        changes). The runbook's roles use V(false).
    type: bool
    default: true
  return_plan:
    description:
      - Return RV(plan), the fingerprints of the messages this run acts on (or, in check mode, would act on) -
        queue_id, arrival_time, sender, the number and a sha256 of the recipients still queued, and
        message_size; with origin or content options (O(sasl_username), O(header_regex), ...), also a sha256 of
        what they looked at (the origin attributes, the local uid, the headers named). A check-mode run with
        O(return_plan) is how a plan for review is made; the P(mailops.postfix.fleet_plan#filter) filter merges
        the hosts' plans into one file.
    type: bool
    default: false
  plan:
    description:
      - Apply a reviewed plan - this host's part of a fleet plan (P(mailops.postfix.plan_for#filter)), or
        RV(plan) of a check-mode run - instead of selection options (mutually exclusive with each of them and with O(all)).
      - Only messages still queued with the same fingerprint are acted on; every other planned message is
        skipped and listed in RV(skipped_changed) with the reason (gone - delivered, deleted or requeued under
        a new ID; changed - for example a reused short queue ID, recipients delivered since, or, for a plan made with
        origin or content options, another login, client or selected header in the queue file).
        Messages the plan does not name are never touched. Applying a plan twice changes nothing the
        second time.
      - The plan must be for the same O(action) and instance (C(config_dir)), and not older than
        O(plan_max_age); otherwise the module fails and changes nothing.
    type: dict
  plan_max_age:
    description:
      - The oldest plan O(plan) accepts, as a duration (V(90s), V(30m), V(2h), V(1d)) or seconds.
    type: raw
    default: 1h
  operator:
    description:
      - Who runs the action, for the audit trail (the audit line in Postfix's log, the archive manifest and
        the controller's audit log). The collection's action plugin fills it with the controller's user
        when it is not given.
    type: str
  audit_log:
    description:
      - A JSON-lines file on the controller; the action plugin appends one record per host for every run
        that is not in check mode - operator, time, host, instance, action, selection or plan ID, the IDs
        changed, the counts, the archive location and the result. Without it, no controller-side record
        is written.
      - Independently, every real run in which Postfix was asked to change something (also one that failed
        part-way) writes one line to Postfix's own log (syslog, or C(maillog_file)) with C(postlog), tagged
        C(mailops.postfix).
    type: path
  exclude:
    description:
      - Never act on messages that match this selection - a dictionary of the selection options (O(queue_ids),
        O(sender), O(recipient_domain), ..., O(sasl_username), O(header_regex), ...), checked as strictly as the options
        themselves - for example the junk when releasing the rest of hold. Its origin and content options read the queue
        files of the selected messages its envelope options match. How many were left out is returned in RV(excluded).
    type: dict
  incident:
    description:
      - Act within the instance's incident (opened by M(mailops.postfix.postfix_incident)), reading and updating its
        ledger on the host.
      - The earlier hold - what was on hold before the incident - is never acted on (C(excluded_quarantine) in RV(incident)
        counts it), unless O(incident.include_quarantine).
      - V(hold) records what it holds; with O(incident.junk), also how many of them are junk - the bound a later
        V(delete) keeps to.
      - V(delete) refuses, changing nothing, when more of the selected messages were held before the window
        opened than were junk when they were held (mail that arrived in the window is not limited by this -
        the spammer may still be sending); it records what it deletes.
      - V(requeue), V(release), V(expire_release) and V(flush) refuse while the incident window is open (the mail
        would be held again at once); they record what they release, and the first release after the window
        ended records every window arrival still on hold.
      - Fails when the instance has no incident (in check mode, what is on hold now counts as the earlier hold).
      - The origin and content options (of the selection, O(exclude) and O(incident.junk)) take the verdicts an
        earlier run kept on the host (M(mailops.postfix.postfix_queue_info) or this module with O(incident); the
        same options, the same message - queue ID, arrival time and size as listed) instead of reading those queue
        files again, and keep what this run read (C(STATE_DIR/INSTANCE/verdicts.json), mode 0600; not in check
        mode). A selection that makes a plan (O(return_plan)) and a plan applied always read the queue files.
    type: dict
    suboptions:
      state_dir:
        description: Where the ledgers live on the host (as for M(mailops.postfix.postfix_incident)).
        type: path
        default: /var/lib/mailops-postfix
      junk:
        description:
          - With O(action=hold), the junk (selection options as a dictionary), recorded in the incident's ledger by
            the incident's first hold that is given it (a later hold does not change it). The hold itself reads no
            queue file for it.
          - The incident's first O(action=delete) that selects messages the incident held counts the recorded junk
            among the messages the incident held that are still on hold (with origin or content options, their
            queue files read where no verdict of an earlier reading holds) and records the count as C(junk_held), the
            bound of every delete of the incident. A held queue file never changes and what left the hold can not
            be deleted from it, so the count is the one the hold would have made.
        type: dict
      scope:
        description:
          - V(all) - the selection as given; V(held) - only messages the incident held before its window opened
            (or took over from an earlier incident); V(window) - only messages its window held.
        type: str
        choices: [all, held, window]
        default: all
      include_quarantine:
        description: Act on the earlier hold too (releasing the host's own quarantine is then explicit).
        type: bool
        default: false
      guard_max_per_source:
        description:
          - The release guard, for V(requeue), V(release), V(expire_release) and V(flush). The messages that arrived
            in the incident window and would be released are grouped by source - the SASL login, else the original
            SMTP client's address, else (mail submitted with sendmail) the submitting uid; Postfix's own notices are
            one source - reading their headers (C(postcat -q -eh)). A source that sent more than this many stays on
            hold - a second compromised account that started sending during the run is not released - and is named in
            C(guarded) of RV(incident) and recorded in the ledger. Unset, nothing is held back.
        type: int
      release_guarded:
        description:
          - Sources the guard must not hold back (as RV(incident) names them, for example
            C(sasl_username:alice@example.org)) - how an operator who has checked them releases them.
        type: list
        elements: str
notes:
  - postsuper needs root; run the task with C(become=true).
  - Mail in the active queue may be in delivery while it is held or deleted; the message file is moved
    or removed at once, but a delivery already under way can still complete.
  - V(flush) is not idempotent by nature; every run asks again for the delivery of what is still deferred.
    V(archive) writes a new archive on every run.
seealso:
  - module: mailops.postfix.postfix_queue_info
  - name: postsuper(1)
    description: The Postfix superintendent.
    link: https://www.postfix.org/postsuper.1.html
"""

EXAMPLES = r"""
- name: Hold everything that could still leave (spam incident, first step)
  mailops.postfix.postfix_queue_action:
    action: hold
    all: true
  become: true

- name: Delete the compromised account's mail, archived first, refusing if the selection grew
  mailops.postfix.postfix_queue_action:
    action: delete
    queues: [hold]
    sender: webmaster@example.org
    max_messages: 20000
    archive_dir: /var/backups/postfix-purge
  become: true
  register: purge

- name: Undo that purge for one message
  mailops.postfix.postfix_queue_action:
    action: reinject
    archive: "{{ purge.archive.directory }}"
    queue_ids: [32D2F160014]
  become: true

- name: Release the legitimate rest of hold, throttled
  mailops.postfix.postfix_queue_action:
    action: requeue
    queues: [hold]
    batch_size: 500
    max_active: 2000
  become: true

- name: Expire what one dead destination will never take
  mailops.postfix.postfix_queue_action:
    action: expire
    recipient_domain: gone.example
    older_than: 2d
  become: true
"""

RETURN = r"""
action:
  description: The action.
  returned: always
  type: str
  sample: hold
matched:
  description: Messages that matched the selection at action time.
  returned: always
  type: int
  sample: 1500
matched_by_queue:
  description: How many of the matched messages were in each queue (C(unknown) for text listings that cannot tell).
  returned: when the queue could be listed
  type: dict
  sample: {"deferred": 1480, "active": 20}
listed_at:
  description: The host's clock when the queue was listed (seconds since the epoch).
  returned: when the queue could be listed
  type: float
  sample: 1795960200.25
listed_from:
  description:
    - Where the queue was listed - V(postqueue), or V(queue directories) for a hold of whole queues (see
      O(action)), whose listing has each message's queue and ID only.
  returned: when the queue could be listed
  type: str
  sample: postqueue
changed_count:
  description: Messages Postfix reported changed (in check mode, that would be changed).
  returned: always
  type: int
  sample: 1480
queue_ids:
  description: Their queue IDs (for V(requeue), the IDs they had; Postfix gives them new ones).
  returned: unless O(return_ids=false)
  type: list
  elements: str
  sample: ["32D2F160014", "4jcpDq1VLtzBrJr"]
vanished:
  description:
    - Selected IDs not changed because they were gone (before postsuper, or before their queue file could be read
      for an origin or content option), had moved since the listing, or were already in the target state.
  returned: unless O(return_ids=false)
  type: list
  elements: str
  sample: ["767F0160023"]
not_applicable:
  description: Selected messages this action cannot act on where they are (for example maildrop for V(hold)), with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"queue_id": "8FB47160045", "queue_name": "maildrop", "reason": "hold does not act on mail in maildrop"}]
pending:
  description:
    - Planned IDs not acted on because the run failed (empty on success) - those of later batches, and
      those of the failing batch that postsuper said nothing about.
  returned: unless O(return_ids=false)
  type: list
  elements: str
  sample: []
requeued_long_held:
  description: For V(release), held mail past its lifetime that was requeued with C(postsuper -r) instead.
  returned: unless O(return_ids=false)
  type: list
  elements: str
  sample: []
counts:
  description:
    - How many entries each list of IDs has - C(queue_ids), C(vanished), C(not_applicable), C(pending),
      C(requeued_long_held), C(skipped_changed) - whether or not O(return_ids) returns the lists.
  returned: always
  type: dict
  sample: {"queue_ids": 1480, "vanished": 20, "not_applicable": 0, "pending": 0, "requeued_long_held": 0, "skipped_changed": 0}
batches:
  description:
    - Commands run (in check mode, that would run), each with the number of IDs sent and changed.
    - For a hold of a whole queue (C(postsuper -h ALL deferred)), C(sent) is the number of IDs listed in that queue
      and C(changed) those of them proved held.
  returned: always
  type: list
  elements: dict
  sample: [{"command": "postsuper -h - deferred", "sent": 1000, "changed": 998}]
archive:
  description:
    - With O(archive_dir) (or O(action=reinject)), where the messages were saved (or read from).
    - C(count) is the number of messages archived (in check mode, that would be); C(manifest) is the
      manifest's path, V(null) in check mode or when archiving failed.
  returned: when archiving or re-injecting
  type: dict
  contains:
    directory:
      description: The archive's directory.
      type: str
    count:
      description: Messages archived (in check mode, that would be).
      type: int
    manifest:
      description: The manifest's path; V(null) in check mode or when archiving failed.
      type: str
    packed:
      description: With O(archive_pack), the C(.tar.gz) of the archive.
      type: str
      returned: with archive_pack
  sample:
    directory: /var/backups/postfix-purge/mx1.example.org/postfix/20261129T161500Z-ticket-4711
    count: 570
    manifest: /var/backups/postfix-purge/mx1.example.org/postfix/20261129T161500Z-ticket-4711/manifest.json
postfix_version:
  description: The instance's C(mail_version).
  returned: when the instance could be read
  type: str
  sample: 3.7.11
instance:
  description: The instance acted on (C(name), C(config_dir), C(queue_directory)).
  returned: when the instance could be read
  type: dict
  sample: {"name": "postfix", "config_dir": "/etc/postfix", "queue_directory": "/var/spool/postfix"}
selection:
  description: The selection options given, as the module understood them (empty with O(plan)).
  returned: when the instance could be read
  type: dict
  sample: {"sender": ["webmaster@example.org"], "queues": ["hold"]}
skipped_changed:
  description:
    - With O(plan), the planned messages not acted on because they are gone or changed since the plan,
      each with C(queue_id) and C(reason). Empty without a plan.
  returned: always
  type: list
  elements: dict
  sample: [{"queue_id": "4F2A1160031", "reason": "gone since the plan (delivered, deleted or requeued)"}]
content:
  description:
    - When queue files were read (origin or content options in the selection or in O(exclude), or a plan made with
      them) - C(tier) (V(origin), V(headers) or V(body) - what was read), C(read) (queue files read), and C(gone)
      (messages gone between the listing and their reading, never acted on - in RV(vanished), or with a plan in
      RV(skipped_changed)); with O(incident), C(remembered) (messages whose verdicts an earlier run kept, not read
      again).
  returned: when queue files were read
  type: dict
  sample: {"tier": "origin", "read": 1532, "gone": 2, "remembered": 98000}
excluded:
  description: With O(exclude), how many selected messages it left out.
  returned: when exclude is given
  type: int
  sample: 120
incident:
  description:
    - With O(incident), how the incident narrowed the action - C(incident_id), C(ledger), C(excluded_quarantine)
      (messages of the earlier hold left out), C(selected_held) and C(selected_window) (of the messages acted on,
      those the incident held before its window opened and those its window held), C(junk_held) (how many of the
      messages the incident held match the junk its hold recorded - counted by the incident's first delete that
      selects any of them, the bound of every delete; null until then), C(junk_reading) (when this run counted the
      junk by its origin or content options - how many verdicts were C(remembered) from an earlier run, how many
      queue files C(read), how many messages C(gone)) and, with O(incident.guard_max_per_source), C(guarded) (the
      sources the release guard kept on hold, each with C(source) and C(messages)).
  returned: when incident is given and the queue could be listed
  type: dict
  sample: {"incident_id": "ticket-4711", "ledger": "/var/lib/mailops-postfix/postfix/incident.json",
           "excluded_quarantine": 5, "selected_held": 220, "selected_window": 31, "junk_held": 220}
audit_log:
  description: The controller file the audit record of this run was appended to.
  returned: when O(audit_log) is set, not in check mode
  type: str
  sample: /var/log/mailops/audit.jsonl
plan_id:
  description: With O(plan), the ID of the fleet plan applied (null for a host plan without one).
  returned: when a plan is applied
  type: str
  sample: 3f9c2a1b7d4e5f6012a4c8e09b7d3f51
plan:
  description:
    - With O(return_plan), this host's plan - C(format), C(action), C(selection), C(postfix_version),
      C(instance) (C(name), C(config_dir)), C(created) (epoch seconds) and C(messages), one fingerprint per
      message (C(queue_id), C(arrival_time), C(sender), C(recipients), C(recipients_sha256), C(message_size)).
  returned: with return_plan, when the queue could be listed
  type: dict
  sample:
    format: 1
    action: delete
    selection: {"sender": ["webmaster@example.org"], "queues": ["hold"]}
    postfix_version: 3.7.11
    instance: {"name": "postfix", "config_dir": "/etc/postfix"}
    created: 1795960200
    messages:
      - {"queue_id": "4F2A1160031", "arrival_time": 1795959000, "sender": "webmaster@example.org",
         "recipients": 2, "recipients_sha256": "9b1e...", "message_size": 1203}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailops.postfix.plugins.module_utils._actions import run_action
from ansible_collections.mailops.postfix.plugins.module_utils._argspec import shared_argument_spec
from ansible_collections.mailops.postfix.plugins.module_utils._incident import DEFAULT_STATE_DIR
from ansible_collections.mailops.postfix.plugins.module_utils._selection import FILTERS


def argument_spec():
    spec = shared_argument_spec()
    spec.update(
        action=dict(type="str", required=True,
                    choices=["hold", "release", "requeue", "delete", "expire", "expire_release", "flush",
                             "archive", "reinject"]),
        archive_dir=dict(type="path"),
        archive_pack=dict(type="bool", default=False),
        archive=dict(type="path"),
        all=dict(type="bool", default=False),
        max_messages=dict(type="int"),
        expect_count=dict(type="int"),
        batch_size=dict(type="int", default=1000),
        batch_pause=dict(type="float", default=0),
        max_active=dict(type="int"),
        max_active_timeout=dict(type="int", default=600),
        long_held=dict(type="str", choices=["requeue", "release", "fail"], default="requeue"),
        return_ids=dict(type="bool", default=True),
        return_plan=dict(type="bool", default=False),
        plan=dict(type="dict"),
        plan_max_age=dict(type="raw", default="1h"),
        operator=dict(type="str"),
        audit_log=dict(type="path"),
        exclude=dict(type="dict"),
        incident=dict(type="dict", options=dict(
            state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
            junk=dict(type="dict"),
            scope=dict(type="str", choices=["all", "held", "window"], default="all"),
            include_quarantine=dict(type="bool", default=False),
            guard_max_per_source=dict(type="int"),
            release_guarded=dict(type="list", elements="str"),
        )),
    )
    return spec


# The rules between options that can be declared; the others (archive only for reinject, archive_dir
# only for archive and delete, what reinject takes) are _actions.check_option_rules.
REQUIRED_IF = [("action", "archive", ["archive_dir"]), ("action", "reinject", ["archive"])]
# A reviewed plan replaces the selection: it names its messages itself.
MUTUALLY_EXCLUSIVE = [["plan", name] for name in FILTERS + ("all",)]


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=REQUIRED_IF, mutually_exclusive=MUTUALLY_EXCLUSIVE)
    result, error, warnings = run_action(module.params, module.check_mode, diff=module._diff)
    for warning in warnings:
        module.warn(warning)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(changed=result["changed_count"] > 0, **result)


if __name__ == "__main__":
    main()
