# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A spam incident on every lab target (Postfix instance), with the ground truth recorded.

On each target: first the host's earlier hold - a few legitimate messages that the lab's own content
policy quarantines (Subject [QUARANTINE], held by its header_checks) - then the incident, mixed with
legitimate mail from many senders, one of them in the compromised account's domain. Three scenarios:

- envelope (default): a burst of junk from one compromised account with its own envelope sender
  (JUNK_SENDER) to many recipients in many domains, and a backscatter wave (bounces with the null
  sender, to the junk's victims), over SMTP from the lab's bridge address (mynetworks trusts it);
- login: a compromised SASL login (COMPROMISED_LOGIN) sends from botnet addresses with forged, rotating
  envelope senders - real colleagues' addresses among them - while the legitimate users send
  authenticated too. The generator plays the submission front end that authenticated them: XCLIENT
  LOGIN= ADDR= (smtpd_authorized_xclient_hosts trusts the bridge), so Postfix records sasl_username and
  the client address as for SMTP AUTH. No backscatter: the junk is selected by its login;
- script: a compromised web application submits junk with sendmail as its own local user (the lab's
  mlab-spam, a web server's account) with forged senders and PHP's X-PHP-Originating-Script header;
  legitimate users send authenticated over SMTP and a legitimate local user (mlab-user) with sendmail.

Postfix relays to a dead port, so everything ends up deferred (the quarantine on hold); this script
waits until it is.

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
import pwd
import random
import smtplib
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402

JUNK_SENDER = "webmaster@example.org"
BOUNCE_SENDER = "MAILER-DAEMON"   # how Postfix lists the null sender; the selection uses it too
# The login scenario's compromised account, and the one that starts during a run (the release guard's test).
COMPROMISED_LOGIN = "intern@example.org"
SECOND_LOGIN = "temp@example.org"
SCENARIOS = ("envelope", "login", "script")
PHP_SCRIPT = "wp-content/plugins/contact/wp-mailer.php"
LEGIT_SENDERS = ["alice@example.org", "bob@example.org", "billing@example.org", "hr@example.org",
                 "carol@partners.example", "dave@partners.example", "support@example.org", "eve@clients.example"]
VICTIM_DOMAINS = ["victim%02d.example" % number for number in range(30)]


def message_text(sender, recipients, message_id, subject, body_lines, headers=None):
    return "\r\n".join([
        "From: <%s>" % (sender or "MAILER-DAEMON@lab.mailops.test"),
        "To: %s" % ", ".join("<%s>" % rcpt for rcpt in recipients),
        "Subject: %s" % subject,
        "Message-ID: <%s>" % message_id,
        "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
    ] + list(headers or []) + [""] + body_lines) + "\r\n"


def botnet_address(rng):
    return "198.51.100.%d" % rng.randrange(1, 255)


def plan_host(host, junk, backscatter, legitimate, seed, quarantine=0, scenario="envelope"):
    """The messages for one target: the quarantine first, then the rest shuffled.

    Each is a dict: kind, sender, recipients, message_id, subject, and how it is sent - ``login`` and ``client``
    (XCLIENT LOGIN/ADDR), ``local_user`` (sendmail as that local user), ``headers`` (extra header lines)."""
    rng = random.Random("%s-%s" % (seed, host))
    messages = []
    for number in range(junk):
        recipients = ["user%d@%s" % (rng.randrange(1000), rng.choice(VICTIM_DOMAINS))
                      for _count in range(rng.randint(1, 6))]
        message = {"kind": "junk", "sender": JUNK_SENDER, "recipients": sorted(set(recipients)),
                   "message_id": "junk-%s-%d@example.org" % (host, number), "subject": "Cheap pills %d" % number}
        if scenario == "login":
            # forged, rotating senders: the colleagues' real addresses among them
            message.update(sender=rng.choice(LEGIT_SENDERS + ["noreply%d@example.org" % rng.randrange(50)]),
                           login=COMPROMISED_LOGIN, client=botnet_address(rng))
        elif scenario == "script":
            message.update(sender=rng.choice(LEGIT_SENDERS[:4] + ["contact%d@example.org" % rng.randrange(50)]),
                           local_user=lab.LOCAL_USERS[0],
                           headers=["X-PHP-Originating-Script: %d:%s" % (lab.local_uid(lab.LOCAL_USERS[0]), PHP_SCRIPT)])
        messages.append(message)
    for number in range(backscatter if scenario == "envelope" else 0):
        recipients = ["user%d@%s" % (rng.randrange(1000), rng.choice(VICTIM_DOMAINS))]
        messages.append({"kind": "backscatter", "sender": "", "recipients": recipients,
                         "message_id": "bounce-%s-%d@lab.mailops.test" % (host, number),
                         "subject": "Undelivered Mail Returned to Sender"})
    for number in range(legitimate):
        sender = LEGIT_SENDERS[number % len(LEGIT_SENDERS)]
        recipients = ["customer%d@client%d.example" % (rng.randrange(100), rng.randrange(8))
                      for _count in range(rng.randint(1, 2))]
        message = {"kind": "legitimate", "sender": sender, "recipients": sorted(set(recipients)),
                   "message_id": "legit-%s-%d@example.org" % (host, number), "subject": "Invoice %d" % number}
        if scenario != "envelope":
            if scenario == "script" and number % 4 == 3:
                message.update(local_user=lab.LOCAL_USERS[1])
            else:      # the office's users, authenticated: their login is their address
                message.update(login=sender, client="192.0.2.%d" % (10 + number % 8))
        messages.append(message)
    rng.shuffle(messages)
    held = [{"kind": "quarantine", "sender": LEGIT_SENDERS[number % len(LEGIT_SENDERS)],
             "recipients": ["customer%d@client9.example" % number],
             "message_id": "quarantine-%s-%d@example.org" % (host, number),
             "subject": "[QUARANTINE] Contract draft %d" % number}
            for number in range(quarantine)]
    return held + messages


def smtp_session(address, port, login=None, client=None):
    """An SMTP session to a target, as the front end that authenticated LOGIN coming from CLIENT (XCLIENT)."""
    client_session = smtplib.SMTP(address, port, timeout=30)
    client_session.ehlo("generator.lab.mailops.test")
    if login or client:
        attributes = []
        if login:
            attributes.append("LOGIN=%s" % login)
        if client:
            helo = "bot.example" if login == COMPROMISED_LOGIN else "office.example.org"
            attributes += ["ADDR=%s" % client, "NAME=[UNAVAILABLE]", "HELO=%s" % helo]
        code, reply = client_session.docmd("XCLIENT", " ".join(attributes))
        if code != 220:
            raise RuntimeError("XCLIENT %s refused: %d %s" % (" ".join(attributes), code, reply))
        client_session.ehlo("generator.lab.mailops.test")
    return client_session


def sendmail_as(entry, user, sender, recipients, text):
    """Submit TEXT with the target's sendmail as local UNIX user USER; returns (accepted, None or Postfix's words)."""
    account = pwd.getpwnam(user)
    argv = lab.enter(entry["host"])[:-1] + ["-S", str(account.pw_uid), "-G", str(account.pw_gid), "--"]
    argv += lab.tool(entry["target"], "sendmail")[len(lab.enter(entry["host"])):] + ["-f", sender or "<>", "--"]
    argv += recipients
    proc = subprocess.run(argv, input=text.replace("\r\n", "\n"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False, timeout=60)
    return proc.returncode == 0, (proc.stdout.strip() or None)


def send_all(entry, messages, results, errors):
    """Send a target's messages: over SMTP (a session per run of messages with the same login and client, re-opened
    every 90 messages to stay under smtpd's limits) or with sendmail as a local user. Records each accepted message's ground truth."""
    host = entry["target"]
    try:
        truth, sessions = [], {}
        for count, message in enumerate(messages):
            body = ["Line %d of %s" % (line, message["message_id"]) for line in range(3 + count % 20)]
            text = message_text(message["sender"], message["recipients"], message["message_id"], message["subject"],
                                body, message.get("headers"))
            record = {"queue_id": None, "kind": message["kind"], "sender": message["sender"] or BOUNCE_SENDER,
                      "recipients": message["recipients"], "message_id": message["message_id"]}
            for key in ("login", "client", "local_user"):
                if message.get(key):
                    record[key] = message[key]
            if message.get("local_user"):
                accepted, words = sendmail_as(entry, message["local_user"], message["sender"], message["recipients"], text)
                if not accepted:
                    raise RuntimeError("%s: sendmail as %s refused: %s" % (host, message["local_user"], words))
                truth.append(record)
                continue
            key = (message.get("login"), message.get("client"))
            # one session open at a time: a session per login and client kept open while others send would sit
            # idle past smtpd_timeout (and hold one of smtpd's processes) when there are many botnet clients
            if key not in sessions or sessions[key][1] >= 90:
                for session, _count in sessions.values():
                    session.quit()
                sessions = {key: [smtp_session(lab.host_ip(entry["host"]), entry["smtp_port"], *key), 0]}
            client = sessions[key][0]
            sessions[key][1] += 1
            code, reply = client.mail(message["sender"])
            if code != 250:
                raise RuntimeError("%s: MAIL FROM:<%s> refused: %d %s" % (host, message["sender"], code, reply))
            for rcpt in message["recipients"]:
                code, reply = client.rcpt(rcpt)
                if code not in (250, 251):
                    raise RuntimeError("%s: RCPT TO:<%s> refused: %d %s" % (host, rcpt, code, reply))
            code, reply = client.data(text.encode())
            reply = reply.decode("ascii", "replace")
            if code != 250 or "queued as " not in reply:
                raise RuntimeError("%s: DATA refused: %d %s" % (host, code, reply))
            record["queue_id"] = reply.rsplit("queued as ", 1)[1].strip()
            truth.append(record)
        for session, _count in sessions.values():
            session.quit()
        results[host] = truth
    except Exception as error:  # reported per host below; one host's failure must not hide the others'
        errors[host] = str(error)


def queue_of(host):
    """Queue name per queue ID on target HOST."""
    return dict((entry["queue_id"], entry["queue_name"]) for entry in lab.listing(host))


def wait_deferred(host, truth, timeout):
    """Wait until every generated message is where it settles: deferred (the dead relay refused it once), or on hold
    (the quarantine). Messages sent over SMTP are known by queue ID; those sent with sendmail (no ID given) are
    counted: the queue must hold exactly as many messages as were generated."""
    expected = dict((entry["queue_id"], "hold" if entry["kind"] == "quarantine" else "deferred")
                    for entry in truth if entry["queue_id"])
    on_hold = sum(1 for entry in truth if entry["kind"] == "quarantine")
    deadline = time.time() + timeout
    while True:
        queue = queue_of(host)
        missing = [qid for qid in expected if qid not in queue]
        if missing:
            raise RuntimeError("%s: %d generated messages are not queued (first %s)" % (host, len(missing), missing[0]))
        where = sorted(queue.values())
        if all(queue[qid] == place for qid, place in expected.items()) and \
                where == ["deferred"] * (len(truth) - on_hold) + ["hold"] * on_hold:
            return
        if time.time() > deadline:
            raise RuntimeError("%s: messages still not deferred after %d s (%d queued of %d)"
                               % (host, timeout, len(queue), len(truth)))
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
    parser.add_argument("--scenario", choices=SCENARIOS, default="envelope",
                        help="envelope (the junk's own sender), login (a compromised SASL login, forged senders) or "
                             "script (a web application's local user, forged senders)")
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
        messages = plan_host(name, args.junk, args.backscatter, args.legitimate, args.seed, args.quarantine,
                             args.scenario)
        thread = threading.Thread(target=send_all, args=(entry, messages, results, errors))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    for name in sorted(results):
        try:
            wait_deferred(name, results[name], timeout=120)
        except (RuntimeError, lab.LabError) as error:
            errors[name] = str(error)
    if errors:
        for name, error in sorted(errors.items()):
            print("incident: %s: %s" % (name, error), file=sys.stderr)
        return 1
    os.makedirs(os.path.join(lab.STATE, "truth"), exist_ok=True)
    for name in names:
        with open(os.path.join(lab.STATE, "truth", name + ".json"), "w") as handle:
            json.dump({"host": name, "scenario": args.scenario, "junk_sender": JUNK_SENDER,
                       "compromised_login": COMPROMISED_LOGIN, "messages": results[name]}, handle, indent=1)
        live = os.path.join(lab.STATE, "truth", name + ".live.jsonl")
        if os.path.exists(live):
            os.unlink(live)
    backscatter = args.backscatter if args.scenario == "envelope" else 0
    print("incident: %d targets, the %s scenario, per target %d junk + %d backscatter + %d legitimate (deferred) + %d "
          "quarantined (on hold); ground truth in %s/truth/"
          % (len(names), args.scenario, args.junk, backscatter, args.legitimate, args.quarantine, lab.STATE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
