# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Selection by origin and content against the raw tools doing the same by hand, in the same run.

Fills the test instance's queue with N messages over SMTP, as a submission front end passes its users on
(XCLIENT LOGIN): 10% from one compromised login with forged, rotating senders and a spam Subject, the rest from
200 other logins; about 1 KB each, plus BIG messages of 1-5 MB (bodies of filler, Subjects ordinary). Everything
defers; the queue is frozen so every round reads the same queue. Then, for R interleaved rounds:

  raw-login     postqueue -j, the IDs to postcat -q -e in batches of 1,000, a small Python filter keeping those
                whose envelope has named_attribute: sasl_username=LOGIN (what an admin would script)
  module-login  postfix_queue_info sasl_username: [LOGIN] (the module run directly, as bench_info does)
  raw-subject   the same with postcat -q -e -h, the filter matching the Subject header
  module-subject postfix_queue_info header_regex: {Subject: REGEX}

and, on the BIG messages alone (min_size 1M), the module by Subject (headers only) against the module by body
(body_regex, body_max_bytes 64k): what the body costs, and that a headers selection never reads it.

Prints medians, the ratios module/raw, and peak memory (max RSS) of each.

    make collection && python3 bench/bench_content.py [--messages 100000] [--big 200] [--rounds 3] [--keep]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import HERE, ROOT, frozen, interleaved, medians, module_under_test  # noqa: E402  (common puts tests/integration on the path)

import live_postfix  # noqa: E402

LOGIN = "intern@example.org"
SUBJECT = "Cheap watches"
SUBJECT_REGEX = "^cheap watches"

RAW = r'''
import json, re, subprocess, sys
flags, pattern = sys.argv[1].split(), re.compile(sys.argv[2], re.I | re.M)
ids = [json.loads(line)["queue_id"] for line in subprocess.run(["postqueue", "-j"], stdout=subprocess.PIPE,
                                                                check=True).stdout.splitlines()]
found = 0
for start in range(0, len(ids), 1000):
    out = subprocess.run(["postcat", "-q"] + flags + ids[start:start + 1000], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode("utf-8", "replace")
    for message in out.split("*** ENVELOPE RECORDS ")[1:]:
        if pattern.search(message):
            found += 1
print(found)
'''


def _send(port, count, offset, big_sizes, errors):
    try:
        session = None
        for number in range(offset, offset + count):
            # one session per message: after XCLIENT the session's client is the one it named, which may not
            # send XCLIENT again (smtpd_authorized_xclient_hosts is the front end's loopback address)
            if session is not None:
                session.quit()
            session = smtplib.SMTP("127.0.0.1", port)
            session.ehlo("frontend.test")
            junk = number % 10 == 0
            login = LOGIN if junk else "user%d@example.org" % (number % 200)
            client = "198.51.100.%d" % (1 + number % 250) if junk else "192.0.2.%d" % (1 + number % 250)
            code, reply = session.docmd("XCLIENT", "LOGIN=%s ADDR=%s NAME=[UNAVAILABLE] HELO=client.example"
                                        % (login, client))
            assert code == 220, reply
            session.ehlo("client.example")
            sender = "ceo%d@bank%d.example" % (number, number % 97) if junk else login
            size = big_sizes.get(number, 0)
            subject = "%s %d" % (SUBJECT, number) if junk else "Report %d" % number
            body = ("x" * 76 + "\r\n") * (size // 78) if size else ("Line of text %d.\r\n" % number) * 40
            text = "From: <%s>\r\nTo: <rcpt%d@example.net>\r\nSubject: %s\r\n\r\n%s" % (sender, number, subject, body)
            session.sendmail(sender, ["rcpt%d@example.net" % number], text.encode())
        if session is not None:
            session.quit()
    except Exception as exc:  # pylint: disable=broad-except
        errors.append(exc)


def fill(instance, messages, big):
    if instance.by_queue() == {"deferred": messages}:
        print("queue already holds %d deferred messages: reusing it" % messages)
        return
    print("filling the queue with %d messages (%d by %s, %d of 1-5 MB)..." % (messages, messages // 10, LOGIN, big))
    instance.thaw()
    instance.reset()
    step = max(1, messages // big) if big else 0
    # the big ones: ordinary mail (not the junk's), 1 to 5 MB
    big_sizes = dict((number * step + 1, (1 + number % 5) * 1024 * 1024) for number in range(big)) if big else {}
    start, threads, errors, sessions = time.time(), [], [], 8
    per = messages // sessions
    for index in range(sessions):
        count = per if index < sessions - 1 else messages - per * (sessions - 1)
        thread = threading.Thread(target=_send, args=(instance.smtp_port, count, index * per, big_sizes, errors))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    print("  injected in %.0f s; waiting until every message is deferred..." % (time.time() - start))
    instance.settled({"deferred": messages}, timeout=3600)
    print("  settled after %.0f s" % (time.time() - start))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--big", type=int, default=200, help="messages of 1-5 MB among them")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--keep", action="store_true", help="leave the queue filled (for a later run)")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "bench_content.json"))
    args = parser.parse_args()

    python, module, env = module_under_test(args.venv, "postfix_queue_info")

    instance = live_postfix.configure_default()
    instance.start()
    fill(instance, args.messages, args.big)
    selections = {
        "login": {"sasl_username": [LOGIN]},
        "subject": {"header_regex": {"Subject": SUBJECT_REGEX}},
        "big-headers": {"min_size": "1M", "header_regex": {"Subject": "^report"}},
        "big-body": {"min_size": "1M", "body_regex": "y{20}", "body_max_bytes": "64k"},
    }
    with frozen(instance, args.keep):
        files = {}
        for name, selection in selections.items():
            handle, files[name] = tempfile.mkstemp(suffix=".json")
            with os.fdopen(handle, "w") as out:
                json.dump({"ANSIBLE_MODULE_ARGS": dict(selection, limit=0)}, out)
        raw = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        raw.write(RAW)
        raw.close()
        commands = {
            "raw-login": [python, raw.name, "-e", r"^named_attribute: sasl_username=%s$" % LOGIN],
            "module-login": [python, module, files["login"]],
            "raw-subject": [python, raw.name, "-e -h", r"^subject: %s" % SUBJECT],
            "module-subject": [python, module, files["subject"]],
            "module-big-headers": [python, module, files["big-headers"]],
            "module-big-body": [python, module, files["big-body"]],
        }
        # each side's answer, once: both must find the same messages
        answers = {}
        for name in ("login", "subject"):
            out = json.loads(subprocess.run(commands["module-" + name], stdout=subprocess.PIPE, env=env,
                                            check=True).stdout)
            raw_count = int(subprocess.run(commands["raw-" + name], stdout=subprocess.PIPE, env=env,
                                           check=True).stdout)
            answers[name] = (out["summary"]["total"], raw_count, out["content"])
            assert out["summary"]["total"] == raw_count == args.messages // 10, (name, answers[name])
        big = {}
        for name in ("big-headers", "big-body"):
            out = json.loads(subprocess.run(commands["module-" + name], stdout=subprocess.PIPE, env=env,
                                            check=True).stdout)
            big[name] = out["content"]
        samples, peaks = interleaved(commands, args.rounds, env)
        for path in list(files.values()) + [raw.name]:
            os.unlink(path)

    med = medians(samples)
    result = {"messages": args.messages, "big": args.big, "rounds": args.rounds, "median_seconds": med,
              "peak_rss_kib": peaks, "answers": answers, "big_reads": big,
              "ratio_login": med["module-login"] / med["raw-login"],
              "ratio_subject": med["module-subject"] / med["raw-subject"],
              "postfix_version": instance.get("mail_version")}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as out:
        json.dump(result, out, indent=2)
    print()
    print("| %d deferred messages (%d of 1-5 MB), %d rounds, medians | seconds | peak RSS |"
          % (args.messages, args.big, args.rounds))
    print("|---|---|---|")
    for name in commands:
        print("| %s | %.2f | %.0f MiB |" % (name, med[name], peaks[name] / 1024.0))
    print()
    print("ratio module / raw, by login:    %.2f" % result["ratio_login"])
    print("ratio module / raw, by Subject:  %.2f" % result["ratio_subject"])
    print("the big messages: headers read %s, body read %s" % (big["big-headers"], big["big-body"]))


if __name__ == "__main__":
    main()
