# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A spam incident on every lab host, with the ground truth recorded.

On each host (over SMTP to the host's own smtpd, from the lab's bridge address which the hosts'
mynetworks trust): a burst of junk from one compromised account (JUNK_SENDER) to many recipients in
many domains, optionally a backscatter wave (bounces with the null sender, to the junk's victims),
mixed with legitimate mail from many senders, one of them in the compromised account's domain.
Postfix relays to a dead port, so everything ends up deferred; this script waits until it is.

The ground truth goes to $MAILOPS_LAB_DIR/truth/<host>.json: for every message its queue ID (from
Postfix's "queued as" reply), kind (junk | backscatter | legitimate), envelope and Message-ID (the
delivery sink keeps the headers, so deliveries are matched by Message-ID).

    incident.py [--junk 200] [--backscatter 20] [--legitimate 40] [--hosts h01,h02]
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


def plan_host(host, junk, backscatter, legitimate, seed):
    """The messages for one host, in a shuffled order: (kind, sender, recipients, message_id, subject)."""
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
    return messages


def send_all(host, address, messages, results, errors):
    try:
        truth = []
        client = smtplib.SMTP(address, 25, timeout=30)
        client.ehlo("generator.lab.mailops.test")
        for count, (kind, sender, recipients, message_id, subject) in enumerate(messages):
            if count and count % 90 == 0:     # stay under smtpd's per-session limits
                client.quit()
                client = smtplib.SMTP(address, 25, timeout=30)
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
    """Queue name per queue ID on HOST."""
    return dict((entry["queue_id"], entry["queue_name"]) for entry in lab.listing(host))


def wait_deferred(host, queue_ids, timeout):
    """Wait until every generated message is deferred (the dead relay refused it once)."""
    deadline = time.time() + timeout
    while True:
        queue = queue_of(host)
        missing = [qid for qid in queue_ids if qid not in queue]
        if missing:
            raise RuntimeError("%s: %d generated messages are not queued (first %s)" % (host, len(missing), missing[0]))
        if all(queue[qid] == "deferred" for qid in queue_ids):
            return
        if time.time() > deadline:
            raise RuntimeError("%s: messages still not deferred after %d s" % (host, timeout))
        lab.run(lab.enter(host) + ["postqueue", "-f"])
        time.sleep(0.2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--junk", type=int, default=200)
    parser.add_argument("--backscatter", type=int, default=20)
    parser.add_argument("--legitimate", type=int, default=40)
    parser.add_argument("--hosts", help="comma-separated host names (default: every lab host)")
    parser.add_argument("--seed", default="mailops")
    args = parser.parse_args(argv)
    state = lab.load_state()
    hosts = args.hosts.split(",") if args.hosts else sorted(state["hosts"])
    if not hosts or any(host not in state["hosts"] for host in hosts):
        print("incident: unknown or no lab hosts: %s (is the lab up?)" % ",".join(hosts), file=sys.stderr)
        return 1
    results, errors, threads = {}, {}, []
    for host in hosts:
        messages = plan_host(host, args.junk, args.backscatter, args.legitimate, args.seed)
        thread = threading.Thread(target=send_all, args=(host, state["hosts"][host]["ip"], messages, results, errors))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    for host in sorted(results):
        try:
            wait_deferred(host, [entry["queue_id"] for entry in results[host]], timeout=120)
        except (RuntimeError, lab.LabError) as error:
            errors[host] = str(error)
    if errors:
        for host, error in sorted(errors.items()):
            print("incident: %s: %s" % (host, error), file=sys.stderr)
        return 1
    os.makedirs(os.path.join(lab.STATE, "truth"), exist_ok=True)
    totals = {}
    for host in hosts:
        with open(os.path.join(lab.STATE, "truth", host + ".json"), "w") as handle:
            json.dump({"host": host, "junk_sender": JUNK_SENDER, "messages": results[host]}, handle, indent=1)
        for entry in results[host]:
            totals[entry["kind"]] = totals.get(entry["kind"], 0) + 1
    print("incident: %d hosts, per host %d junk + %d backscatter + %d legitimate, all deferred; "
          "ground truth in %s/truth/" % (len(hosts), args.junk, args.backscatter, args.legitimate, lab.STATE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
