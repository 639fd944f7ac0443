# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A spam incident on every lab target (Postfix instance), with the ground truth recorded.

On each target (over SMTP to the instance's own smtpd, from the lab's bridge address which the
hosts' mynetworks trust): first the host's earlier hold - a few legitimate messages that the lab's
own content policy quarantines (Subject [QUARANTINE], held by its header_checks) - then a burst of
junk from one compromised account (JUNK_SENDER) to many recipients in many domains, optionally a
backscatter wave (bounces with the null sender, to the junk's victims), mixed with legitimate mail
from many senders, one of them in the compromised account's domain. Postfix relays to a dead port,
so everything ends up deferred (the quarantine on hold); this script waits until it is.

The ground truth goes to $MAILOPS_LAB_DIR/truth/<target>.json: for every message its queue ID (from
Postfix's "queued as" reply), kind (junk | backscatter | legitimate | quarantine), envelope and
Message-ID (the delivery sink and the archives keep the headers, so messages are matched by
Message-ID). lab/traffic.py adds what keeps arriving during a run.

    incident.py [--junk 200] [--backscatter 20] [--legitimate 40] [--quarantine 5] [--targets h01,h05b]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import random
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402

JUNK_SENDER = "webmaster@example.org"
BOUNCE_SENDER = "MAILER-DAEMON"   # how Postfix lists the null sender; the selection uses it too
LEGIT_SENDERS = ["alice@example.org", "bob@example.org", "billing@example.org", "hr@example.org",
                 "carol@partners.example", "dave@partners.example", "support@example.org", "eve@clients.example"]
VICTIM_DOMAINS = ["victim%02d.example" % number for number in range(30)]


def message_text(sender, recipients, message_id, subject, body_lines):
    return "\r\n".join([
        "From: <%s>" % (sender or "MAILER-DAEMON@lab.mailops.test"),
        "To: %s" % ", ".join("<%s>" % rcpt for rcpt in recipients),
        "Subject: %s" % subject,
        "Message-ID: <%s>" % message_id,
        "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        "",
    ] + body_lines) + "\r\n"


def plan_host(host, junk, backscatter, legitimate, seed, quarantine=0):
    """The messages for one target: the quarantine first, then the rest shuffled.

    Each is (kind, sender, recipients, message_id, subject).
    """
    rng = random.Random("%s-%s" % (seed, host))
    messages = []
    for number in range(junk):
        recipients = ["user%d@%s" % (rng.randrange(1000), rng.choice(VICTIM_DOMAINS))
                      for _count in range(rng.randint(1, 6))]
        messages.append(("junk", JUNK_SENDER, sorted(set(recipients)),
                         "junk-%s-%d@example.org" % (host, number), "Cheap pills %d" % number))
    for number in range(backscatter):
        recipients = ["user%d@%s" % (rng.randrange(1000), rng.choice(VICTIM_DOMAINS))]
        messages.append(("backscatter", "", recipients, "bounce-%s-%d@lab.mailops.test" % (host, number),
                         "Undelivered Mail Returned to Sender"))
    for number in range(legitimate):
        sender = LEGIT_SENDERS[number % len(LEGIT_SENDERS)]
        recipients = ["customer%d@client%d.example" % (rng.randrange(100), rng.randrange(8))
                      for _count in range(rng.randint(1, 2))]
        messages.append(("legitimate", sender, sorted(set(recipients)),
                         "legit-%s-%d@example.org" % (host, number), "Invoice %d" % number))
    rng.shuffle(messages)
    held = [("quarantine", LEGIT_SENDERS[number % len(LEGIT_SENDERS)], ["customer%d@client9.example" % number],
             "quarantine-%s-%d@example.org" % (host, number), "[QUARANTINE] Contract draft %d" % number)
            for number in range(quarantine)]
    return held + messages


def send_all(host, address, messages, results, errors, port=25):
    try:
        truth = []
        client = smtplib.SMTP(address, port, timeout=30)
        client.ehlo("generator.lab.mailops.test")
        for count, (kind, sender, recipients, message_id, subject) in enumerate(messages):
            if count and count % 90 == 0:     # stay under smtpd's per-session limits
                client.quit()
                client = smtplib.SMTP(address, port, timeout=30)
                client.ehlo("generator.lab.mailops.test")
            body = ["Line %d of %s" % (line, message_id) for line in range(3 + len(truth) % 20)]
            code, reply = client.mail(sender)
            if code != 250:
                raise RuntimeError("%s: MAIL FROM:<%s> refused: %d %s" % (host, sender, code, reply))
            for rcpt in recipients:
                code, reply = client.rcpt(rcpt)
                if code not in (250, 251):
                    raise RuntimeError("%s: RCPT TO:<%s> refused: %d %s" % (host, rcpt, code, reply))
            code, reply = client.data(message_text(sender, recipients, message_id, subject, body).encode())
            reply = reply.decode("ascii", "replace")
            if code != 250 or "queued as " not in reply:
                raise RuntimeError("%s: DATA refused: %d %s" % (host, code, reply))
            truth.append({"queue_id": reply.rsplit("queued as ", 1)[1].strip(), "kind": kind,
                          "sender": sender or BOUNCE_SENDER, "recipients": recipients, "message_id": message_id})
        client.quit()
        results[host] = truth
    except Exception as error:  # reported per host below; one host's failure must not hide the others'
        errors[host] = str(error)


def queue_of(host):
    """Queue name per queue ID on target HOST."""
    return dict((entry["queue_id"], entry["queue_name"]) for entry in lab.listing(host))


def wait_deferred(host, expected, timeout):
    """Wait until every generated message is where it settles: deferred (the dead relay refused it
    once), or on hold (the quarantine). ``expected``: {queue_id: queue name}."""
    deadline = time.time() + timeout
    while True:
        queue = queue_of(host)
        missing = [qid for qid in expected if qid not in queue]
        if missing:
            raise RuntimeError("%s: %d generated messages are not queued (first %s)" % (host, len(missing), missing[0]))
        if all(queue[qid] == where for qid, where in expected.items()):
            return
        if time.time() > deadline:
            raise RuntimeError("%s: messages still not deferred after %d s" % (host, timeout))
        lab.run(lab.tool(host, "postqueue") + ["-f"])
        time.sleep(0.2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--junk", type=int, default=200)
    parser.add_argument("--backscatter", type=int, default=20)
    parser.add_argument("--legitimate", type=int, default=40)
    parser.add_argument("--quarantine", type=int, default=5,
                        help="messages the lab's own content policy holds before the incident (the earlier hold)")
    parser.add_argument("--targets", "--hosts", dest="targets",
                        help="comma-separated targets (default: every Postfix instance of the lab)")
    parser.add_argument("--seed", default="mailops")
    args = parser.parse_args(argv)
    known = dict((entry["target"], entry) for entry in lab.targets())
    names = args.targets.split(",") if args.targets else sorted(known)
    if not names or any(name not in known for name in names):
        print("incident: unknown or no lab targets: %s (is the lab up?)" % ",".join(names), file=sys.stderr)
        return 1
    results, errors, threads = {}, {}, []
    for name in names:
        entry = known[name]
        messages = plan_host(name, args.junk, args.backscatter, args.legitimate, args.seed, args.quarantine)
        thread = threading.Thread(target=send_all, args=(name, lab.host_ip(entry["host"]), messages, results, errors,
                                                         entry["smtp_port"]))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    for name in sorted(results):
        expected = dict((entry["queue_id"], "hold" if entry["kind"] == "quarantine" else "deferred")
                        for entry in results[name])
        try:
            wait_deferred(name, expected, timeout=120)
        except (RuntimeError, lab.LabError) as error:
            errors[name] = str(error)
    if errors:
        for name, error in sorted(errors.items()):
            print("incident: %s: %s" % (name, error), file=sys.stderr)
        return 1
    os.makedirs(os.path.join(lab.STATE, "truth"), exist_ok=True)
    for name in names:
        with open(os.path.join(lab.STATE, "truth", name + ".json"), "w") as handle:
            json.dump({"host": name, "junk_sender": JUNK_SENDER, "messages": results[name]}, handle, indent=1)
        live = os.path.join(lab.STATE, "truth", name + ".live.jsonl")
        if os.path.exists(live):
            os.unlink(live)
    print("incident: %d targets, per target %d junk + %d backscatter + %d legitimate (deferred) + %d quarantined "
          "(on hold); ground truth in %s/truth/" % (len(names), args.junk, args.backscatter, args.legitimate,
                                                    args.quarantine, lab.STATE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
