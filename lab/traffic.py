# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A live incident: mail keeps arriving on every lab target while the runbook runs.

Until it is stopped (SIGTERM, SIGINT, or --seconds), per target, as the incident's scenario (the ground truth
says which; --scenario overrides):
  - envelope: the compromised account keeps sending junk over SMTP (JUNK_SENDER) and, as the local UNIX
    user mlab-spam, with sendmail (-f JUNK_SENDER): a compromised web application;
  - login: the compromised SASL login keeps sending from botnet addresses with forged senders (XCLIENT);
  - script: the web application's user keeps submitting junk with sendmail, forged senders,
    X-PHP-Originating-Script;
  - legitimate senders keep sending over SMTP (authenticated, in the login and script scenarios), and the
    local user mlab-user with sendmail;
  - with --second-login RATE, a second compromised login (SECOND_LOGIN) sends too: an account that starts
    during the run, which no approved junk names (the release guard must keep its mail on hold).
Every message Postfix accepts is appended to $MAILOPS_LAB_DIR/truth/<target>.live.jsonl (kind,
envelope, Message-ID, queue ID when SMTP said it, how it came in): the ground truth lab/truth.py
checks with the incident's. What Postfix refuses (after the fix) goes to <target>.refused.jsonl.

    traffic.py [--targets h01,h05b] [--seconds N] [--scenario envelope|login|script] [--smtp-junk 4]
               [--smtp-legit 2] [--local-junk 1] [--local-legit 0.5] [--second-login 0]

Rates are messages per second per target. It prints what it sent per target when it stops.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import signal
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import incident  # noqa: E402
import lab  # noqa: E402

LOCAL_JUNK_USER, LOCAL_USER = lab.LOCAL_USERS
LOCAL_LEGIT_SENDER = "alice@example.org"


class Ledger:
    """The live ground truth of one target: accepted and refused messages, one JSON line each."""

    def __init__(self, name):
        folder = os.path.join(lab.STATE, "truth")
        os.makedirs(folder, exist_ok=True)
        self.accepted = open(os.path.join(folder, name + ".live.jsonl"), "a")
        self.refused = open(os.path.join(folder, name + ".refused.jsonl"), "a")
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, accepted, record):
        with self.lock:
            handle = self.accepted if accepted else self.refused
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            key = "%s %s %s" % ("accepted" if accepted else "refused", record["kind"], record["via"])
            self.counts[key] = self.counts.get(key, 0) + 1

    def close(self):
        self.accepted.close()
        self.refused.close()


def smtp_send(entry, sender, recipients, message_id, subject, login=None, client=None):
    """One message over SMTP (as LOGIN from CLIENT with XCLIENT when given); returns (accepted, queue ID or refusal)."""
    body = ["Live line of %s" % message_id]
    try:
        client_session = incident.smtp_session(lab.host_ip(entry["host"]), entry["smtp_port"], login, client)
        try:
            code, reply = client_session.mail(sender)
            if code != 250:
                return False, "%d %s" % (code, reply.decode("ascii", "replace"))
            accepted = [rcpt for rcpt in recipients if client_session.rcpt(rcpt)[0] in (250, 251)]
            if not accepted:
                return False, "every recipient refused"
            code, reply = client_session.data(incident.message_text(sender, accepted, message_id, subject, body).encode())
            reply = reply.decode("ascii", "replace")
            if code != 250 or "queued as " not in reply:
                return False, "%d %s" % (code, reply)
            return True, reply.rsplit("queued as ", 1)[1].strip()
        finally:
            try:
                client_session.quit()
            except smtplib.SMTPException:
                pass
    except (OSError, smtplib.SMTPException, RuntimeError) as error:
        return False, "smtp: %s" % error


def local_send(entry, user, sender, recipients, message_id, subject, headers=None):
    """One message with the target's sendmail, as local UNIX user USER; returns (accepted, None or why)."""
    text = incident.message_text(sender, recipients, message_id, subject, ["Local line of %s" % message_id], headers)
    return incident.sendmail_as(entry, user, sender, recipients, text)


def _message(name, scenario, target, number):
    """What channel NAME sends as its NUMBERth message in SCENARIO: a ground-truth record and how to send it."""
    message_id = "live-%s-%s-%d@example.org" % (name, target, number)
    recipients = ["user%d@%s" % (number % 1000, incident.VICTIM_DOMAINS[number % 30])]
    record = {"message_id": message_id, "recipients": recipients, "subject": "Cheap pills live %d" % number}
    forged = incident.LEGIT_SENDERS[number % len(incident.LEGIT_SENDERS)]
    if name == "second-login":
        record.update(kind="second", sender=forged, login=incident.SECOND_LOGIN, client="203.0.113.%d" % (1 + number % 200),
                      subject="Your parcel %d" % number)
    elif name in ("smtp-junk", "local-junk"):
        record["kind"] = "junk"
        record["sender"] = incident.JUNK_SENDER if scenario == "envelope" else forged
        if name == "smtp-junk" and scenario == "login":
            record.update(login=incident.COMPROMISED_LOGIN, client="198.51.100.%d" % (1 + number % 250))
        if name == "local-junk":
            record["local_user"] = LOCAL_JUNK_USER
            if scenario == "script":
                record["headers"] = ["X-PHP-Originating-Script: %d:%s" % (lab.local_uid(LOCAL_JUNK_USER), incident.PHP_SCRIPT)]
    else:
        record.update(kind="legitimate", recipients=["customer%d@client%d.example" % (number % 100, number % 8)],
                      subject="Order %d" % number)
        if name == "smtp-legit":
            record["sender"] = forged
            if scenario != "envelope":
                record.update(login=forged, client="192.0.2.%d" % (10 + number % 8))
        else:
            record.update(sender=LOCAL_LEGIT_SENDER, local_user=LOCAL_USER)
    return record


def channel(entry, ledger, name, scenario, rate, stop):
    """Send one kind of mail at RATE messages per second until STOP is set."""
    number = 0
    while not stop.wait(1.0 / rate if number else 0):
        number += 1
        record = _message(name, scenario, entry["target"], number)
        if record.get("local_user"):
            accepted, detail = local_send(entry, record["local_user"], record["sender"], record["recipients"],
                                          record["message_id"], record["subject"], record.get("headers"))
            queue_id = None
        else:
            accepted, detail = smtp_send(entry, record["sender"], record["recipients"], record["message_id"],
                                         record["subject"], record.get("login"), record.get("client"))
            queue_id = detail if accepted else None
        shown = dict((key, record[key]) for key in ("kind", "sender", "recipients", "message_id", "login", "client",
                                                    "local_user") if record.get(key))
        shown.update(queue_id=queue_id, via="sendmail" if record.get("local_user") else "smtp",
                     time=round(time.time(), 3), channel=name)
        if not accepted:
            shown["refusal"] = detail
        ledger.add(accepted, shown)


def scenario_of(target):
    """The scenario of the target's incident (its ground truth), envelope when there is none."""
    try:
        with open(os.path.join(lab.STATE, "truth", target + ".json")) as handle:
            return json.load(handle).get("scenario") or "envelope"
    except (OSError, ValueError):
        return "envelope"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--targets", help="comma-separated targets (default: every Postfix instance of the lab)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until SIGTERM or SIGINT)")
    parser.add_argument("--smtp-junk", type=float, default=4)
    parser.add_argument("--smtp-legit", type=float, default=2)
    parser.add_argument("--local-junk", type=float, default=1)
    parser.add_argument("--local-legit", type=float, default=0.5)
    parser.add_argument("--second-login", type=float, default=0,
                        help="messages per second from a second compromised login that no approved junk names")
    parser.add_argument("--scenario", choices=incident.SCENARIOS,
                        help="what the junk is (default: the scenario of each target's ground truth)")
    args = parser.parse_args(argv)
    known = dict((entry["target"], entry) for entry in lab.targets())
    names = args.targets.split(",") if args.targets else sorted(known)
    if not names or any(name not in known for name in names):
        print("traffic: unknown or no lab targets: %s (is the lab up?)" % ",".join(names), file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    ledgers, threads = {}, []
    rates = {"smtp-junk": args.smtp_junk, "smtp-legit": args.smtp_legit, "local-junk": args.local_junk,
             "local-legit": args.local_legit, "second-login": args.second_login}
    for name in names:
        ledgers[name] = Ledger(name)
        scenario = args.scenario or scenario_of(name)
        for kind, rate in rates.items():
            # the junk comes the scenario's way: a login over SMTP, or a web script's local user with sendmail
            if rate > 0 and not (kind == "smtp-junk" and scenario == "script") \
                    and not (kind == "local-junk" and scenario == "login"):
                thread = threading.Thread(target=channel, args=(known[name], ledgers[name], kind, scenario, rate, stop))
                thread.start()
                threads.append(thread)
    print("traffic: sending to %d targets (%s)" % (len(names), ", ".join("%s %g/s" % item for item in rates.items())),
          flush=True)
    # Wait in short steps: a signal's handler runs between them (a wait without a timeout in the main
    # thread was seen never to return to it, leaving the senders running after SIGTERM).
    deadline = None if args.seconds is None else time.time() + args.seconds
    while not stop.wait(0.2):
        if deadline is not None and time.time() >= deadline:
            break
    stop.set()
    for thread in threads:
        thread.join()
    for name in names:
        ledgers[name].close()
        print("traffic: %s: %s" % (name, ", ".join("%s %d" % item for item in sorted(ledgers[name].counts.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
