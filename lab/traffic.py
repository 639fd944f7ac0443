# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A live incident: mail keeps arriving on every lab target while the runbook runs.

Until it is stopped (SIGTERM, SIGINT, or --seconds), per target:
  - the compromised account keeps sending junk over SMTP (JUNK_SENDER) and, as the local UNIX user
    mlab-spam, with sendmail (-f JUNK_SENDER): a compromised web application;
  - legitimate senders keep sending over SMTP, and the local user mlab-user with sendmail.
Every message Postfix accepts is appended to $MAILOPS_LAB_DIR/truth/<target>.live.jsonl (kind,
envelope, Message-ID, queue ID when SMTP said it, how it came in): the ground truth lab/truth.py
checks with the incident's. What Postfix refuses (after the fix) goes to <target>.refused.jsonl.

    traffic.py [--targets h01,h05b] [--seconds N] [--smtp-junk 4] [--smtp-legit 2] [--local-junk 1] [--local-legit 0.5]

Rates are messages per second per target. It prints what it sent per target when it stops.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import pwd
import signal
import smtplib
import subprocess
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


def smtp_send(entry, kind, sender, recipients, message_id, subject):
    """One message over SMTP; returns (accepted, queue ID or Postfix's refusal)."""
    body = ["Live line of %s" % message_id]
    try:
        client = smtplib.SMTP(lab.host_ip(entry["host"]), entry["smtp_port"], timeout=30)
        try:
            client.ehlo("live.lab.mailops.test")
            code, reply = client.mail(sender)
            if code != 250:
                return False, "%d %s" % (code, reply.decode("ascii", "replace"))
            accepted = [rcpt for rcpt in recipients if client.rcpt(rcpt)[0] in (250, 251)]
            if not accepted:
                return False, "every recipient refused"
            code, reply = client.data(incident.message_text(sender, accepted, message_id, subject, body).encode())
            reply = reply.decode("ascii", "replace")
            if code != 250 or "queued as " not in reply:
                return False, "%d %s" % (code, reply)
            return True, reply.rsplit("queued as ", 1)[1].strip()
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                pass
    except (OSError, smtplib.SMTPException) as error:
        return False, "smtp: %s" % error


def local_send(entry, user, sender, recipients, message_id, subject):
    """One message with the target's sendmail, as local UNIX user USER; returns (accepted, None or why)."""
    account = pwd.getpwnam(user)
    argv = lab.enter(entry["host"])[:-1] + ["-S", str(account.pw_uid), "-G", str(account.pw_gid), "--"]
    argv += lab.tool(entry["target"], "sendmail")[len(lab.enter(entry["host"])):] + ["-f", sender, "--"] + recipients
    text = incident.message_text(sender, recipients, message_id, subject, ["Local line of %s" % message_id])
    proc = subprocess.run(argv, input=text.replace("\r\n", "\n"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    return proc.returncode == 0, (proc.stdout.strip() or None)


def channel(entry, ledger, name, rate, stop):
    """Send one kind of mail at RATE messages per second until STOP is set."""
    number = 0
    target = entry["target"]
    while not stop.wait(1.0 / rate if number else 0):
        number += 1
        message_id = "live-%s-%s-%d@example.org" % (name, target, number)
        if name in ("smtp-junk", "local-junk"):
            kind, sender = "junk", incident.JUNK_SENDER
            recipients = ["user%d@%s" % (number % 1000, incident.VICTIM_DOMAINS[number % 30])]
            subject = "Cheap pills live %d" % number
        else:
            kind = "legitimate"
            sender = incident.LEGIT_SENDERS[number % len(incident.LEGIT_SENDERS)] if name == "smtp-legit" \
                else LOCAL_LEGIT_SENDER
            recipients = ["customer%d@client%d.example" % (number % 100, number % 8)]
            subject = "Order %d" % number
        if name.startswith("smtp"):
            accepted, detail = smtp_send(entry, kind, sender, recipients, message_id, subject)
            queue_id = detail if accepted else None
        else:
            user = LOCAL_JUNK_USER if kind == "junk" else LOCAL_USER
            accepted, detail = local_send(entry, user, sender, recipients, message_id, subject)
            queue_id = None
        record = {"kind": kind, "sender": sender, "recipients": recipients, "message_id": message_id,
                  "queue_id": queue_id, "via": "smtp" if name.startswith("smtp") else "sendmail",
                  "time": round(time.time(), 3)}
        if not accepted:
            record["refusal"] = detail
        ledger.add(accepted, record)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--targets", help="comma-separated targets (default: every Postfix instance of the lab)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until SIGTERM or SIGINT)")
    parser.add_argument("--smtp-junk", type=float, default=4)
    parser.add_argument("--smtp-legit", type=float, default=2)
    parser.add_argument("--local-junk", type=float, default=1)
    parser.add_argument("--local-legit", type=float, default=0.5)
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
             "local-legit": args.local_legit}
    for name in names:
        ledgers[name] = Ledger(name)
        for kind, rate in rates.items():
            if rate > 0:
                thread = threading.Thread(target=channel, args=(known[name], ledgers[name], kind, rate, stop))
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
