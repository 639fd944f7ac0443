# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The 100,000-message incident on one lab host: the cleanup runbook against the same work by hand.

The fill, the same for both, each time on a fresh lab host (--layout plain: a stock Debian Postfix):
--junk messages from one compromised account (webmaster@example.org) and --legitimate ones from 8
senders, injected with Postfix's smtp-source inside the host into its own smtpd (8 sessions), all
deferred (the relay is dead) before anything is timed.

  runbook  ansible-playbook mailops.postfix.cleanup over ssh (ansible-core 2.21): pre-flight, assess,
           hold (window + hold), fix (access map + the relay back), purge (archive, then delete),
           requeue (window ends, release), verify (waits until the released mail has left
           maildrop/incoming/active), the report; per-phase wall times from bench/callback_plugins.
  raw      one ssh running the same work as a script: postsuper -h ALL; postqueue -j | jq (the junk
           sender) > IDs; per batch of --batch IDs: postcat -q IDS > batch.mbox, sync the file and the
           directory, postsuper -d -; postconf -e relayhost; postfix reload; postsuper -r ALL hold;
           postkick public pickup W; wait until the queue is empty. Per-step times from the script.
           (postsuper -r leaves the mail in maildrop without waking pickup: without the postkick,
           which the runbook's requeue does too, the raw delivery waits 0-60 s for pickup's timer.)

--scenario login: the junk comes from a compromised SASL login with forged, rotating senders (sent inside the
host as a submission front end passes its users on, XCLIENT LOGIN); the runbook selects it by sasl_username, the
raw script by reading every queue file's envelope records (postcat -q -e, 1,000 IDs a run) through a small awk
filter.

Both are verified the same way: every junk message archived, counted from the archive files on the host (runbook:
the messages in its mbox batches, which must also be its manifest's and the report's count; raw: the envelopes in
its batch files), none left, every legitimate message delivered once to the
host's delivery sink, the queue empty. Also reported: the controller's CPU (getrusage of
ansible-playbook and its children) and the peak RSS of every module run on the host (the host's
python runs under GNU time for the benchmark).

    python bench/bench_incident.py [--junk 100000] [--legitimate 1000] [--rounds 1] [--scenario envelope|login]
                                   [--pipelining on|off]
"""

from __future__ import absolute_import, division, print_function

import argparse
import gzip
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LAB = os.path.join(ROOT, "lab")
sys.path.insert(0, LAB)

import lab  # noqa: E402
from runbook_run import run_cleanup  # noqa: E402

HOST = "h01"
JUNK_SENDER = "webmaster@example.org"
LOGIN = "intern@example.org"
LEGIT_SENDERS = ["alice@example.org", "bob@example.org", "billing@example.org", "hr@example.org",
                 "carol@partners.example", "dave@partners.example", "support@example.org", "eve@clients.example"]
RAW_ARCHIVE = "/var/backups/raw-archive"

# How the raw script finds the junk's IDs: by its envelope sender in the listing, or - when the senders are forged
# - by the login in each queue file's envelope records (postcat -q -e, a thousand IDs at a time, a small awk filter)
RAW_SELECT = {
    "envelope": """postqueue -j | jq -r 'select(.sender == "%(junk)s") | .queue_id' > junk.ids""",
    "login": r"""postqueue -j | jq -r .queue_id | split -l 1000 -d -a 5 - all-
for ids in all-*; do
  postcat -q -e $(cat "$ids") | awk '/^\*\*\* ENVELOPE RECORDS /{n = split($4, p, "/"); id = p[n]}
    $0 == "named_attribute: sasl_username=%(login)s" {print id}'
done > junk.ids""",
}

RAW_SCRIPT = r"""set -e
step() { echo "STEP $1 $(date +%%s.%%N)"; }
step start
postsuper -h ALL 2>/dev/null
step hold
mkdir -p %(archive)s && cd %(archive)s
%(select)s
split -l %(batch)d -d -a 5 junk.ids batch-
step list
for ids in batch-*; do
  postcat -q $(cat "$ids") > "$ids.mbox"
  sync "$ids.mbox"; sync .
  postsuper -d - < "$ids" 2>/dev/null
done
step purge
postconf -e 'relayhost=%(relay)s'
postfix reload 2>/dev/null
step fix
postsuper -r ALL hold 2>/dev/null
postkick public pickup W
step requeue
while [ -n "$(postqueue -j | head -c 1)" ]; do sleep 0.2; done
step delivered
"""


def step_seconds(output):
    """{step: seconds since the step before} from a raw script's ``STEP name stamp`` lines (its ``step`` function),
    and the seconds from its first mark to its last."""
    marks = [(name, float(stamp)) for name, stamp in
             (line.split()[1:] for line in output.splitlines() if line.startswith("STEP "))]
    steps = dict((name, stamp - marks[index][1]) for index, (name, stamp) in enumerate(marks[1:]))
    return steps, marks[-1][1] - marks[0][1]


def phase_times_env(times_file):
    """The environment that makes ansible-playbook write each phase's seconds (bench/callback_plugins) to TIMES_FILE."""
    return {"ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"), "ANSIBLE_CALLBACKS_ENABLED": "phase_times",
            "PHASE_TIMES_FILE": times_file}


def host_sh(script, check=True):
    proc = subprocess.run(lab.enter(HOST) + ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("%s: %s" % (script[:80], proc.stderr.strip()[-2000:]))
    return proc.stdout


def by_queue():
    counts = {}
    for line in host_sh("postqueue -j").splitlines():
        name = json.loads(line)["queue_name"]
        counts[name] = counts.get(name, 0) + 1
    return counts


# The login scenario's junk, sent inside the host as the submission front end that authenticated the compromised
# login (XCLIENT LOGIN from 127.0.0.1, which the lab's Postfix trusts): 8 sessions in parallel, a forged sender per
# message, each session re-opened every 90 messages; about 2,500 bytes each, like smtp-source's.
LOGIN_FILL = r"""
import smtplib, sys, threading
count, login = int(sys.argv[1]), sys.argv[2]
body = ("x" * 76 + "\r\n") * 31
def send(first, last):
    session = None
    for number in range(first, last):
        if session is None or (number - first) % 90 == 0:
            if session is not None:
                session.quit()
            session = smtplib.SMTP("127.0.0.1", 25)
            session.ehlo("frontend.lab")
            code, reply = session.docmd("XCLIENT", "LOGIN=%s ADDR=198.51.100.%d NAME=[UNAVAILABLE] HELO=bot.example"
                                        % (login, 1 + number % 250))
            assert code == 220, reply
            session.ehlo("bot.example")
        sender = "ceo%d@bank%d.example" % (number, number % 97)
        session.sendmail(sender, ["user@victim.example"],
                         ("From: <%s>\r\nSubject: Cheap pills\r\n\r\n%s" % (sender, body)).encode())
    session.quit()
step = count // 8
threads = [threading.Thread(target=send, args=(i * step, count if i == 7 else (i + 1) * step)) for i in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
"""


def fresh_fill(args):
    """A fresh lab host whose queue holds the incident, every message deferred."""
    subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "up", "--hosts", "1", "--layout", "plain"],
                   check=True, stdout=subprocess.DEVNULL)
    start = time.time()
    if args.scenario == "login":
        host_sh("python3 -c %s %d %s" % (shlex.quote(LOGIN_FILL), args.junk, LOGIN))
    else:
        host_sh("smtp-source -s 8 -m %d -l 2500 -f %s -t user@victim.example -N -S 'Cheap pills' 127.0.0.1:25"
                % (args.junk, JUNK_SENDER))
    per_sender = args.legitimate // len(LEGIT_SENDERS)
    for number, sender in enumerate(LEGIT_SENDERS):
        count = per_sender + (args.legitimate % len(LEGIT_SENDERS) if number == 0 else 0)
        host_sh("smtp-source -s 2 -m %d -l 4000 -f %s -t customer@client%d.example -N -S Invoice 127.0.0.1:25"
                % (count, sender, number))
    total = args.junk + args.legitimate
    deadline = time.time() + args.fill_timeout
    while True:
        counts = by_queue()
        if counts == {"deferred": total}:
            break
        if time.time() > deadline:
            raise RuntimeError("the fill did not settle: %r (expected %d deferred)" % (counts, total))
        time.sleep(5)
    print("  filled: %d deferred in %.0f s" % (total, time.time() - start), flush=True)


def delivered_count():
    return int(host_sh("ls -1 %s | wc -l" % lab.SINK_DIR).strip())


def verify_host(args, archived):
    problems = []
    counts = by_queue()
    if counts:
        problems.append("queue not empty: %r" % counts)
    delivered = delivered_count()
    if delivered != args.legitimate:
        problems.append("delivered %d, not %d" % (delivered, args.legitimate))
    if archived != args.junk:
        problems.append("archived %d, not %d" % (archived, args.junk))
    if problems:
        raise RuntimeError("verification failed: " + "; ".join(problems))
    return delivered


def rss_wrapper(state_dir):
    """A python3 for the host that logs each module run's wall seconds and peak RSS (KiB), a line per run in the order
    they ran - the host sees the lab's state dir."""
    wrapper = os.path.join(state_dir, "python3-rss")
    log = os.path.join(state_dir, "module-rss.log")
    with open(wrapper, "w") as handle:
        handle.write('#!/bin/sh\nexec /usr/bin/time -a -o %s -f "%%e %%M" /usr/bin/python3 "$@"\n' % log)
    os.chmod(wrapper, 0o755)
    if os.path.exists(log):
        os.unlink(log)
    return wrapper, log


def keep_mail_log(out_dir):
    """The host's Postfix log of the run, gzipped beside its report: the lab host is gone with the next fill."""
    with open(lab.target_path(HOST, "log"), "rb") as source, \
            gzip.open(os.path.join(out_dir, "postfix.log.gz"), "wb", compresslevel=3) as kept:
        shutil.copyfileobj(source, kept)


def run_runbook(args, out_dir):
    bench_dir = os.path.join(lab.STATE, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    wrapper, rss_log = rss_wrapper(bench_dir)
    times_file = os.path.join(out_dir, "phase-times.json")
    blocked = {"fix_block_senders": [JUNK_SENDER]} if args.scenario == "envelope" else {"fix_block_sasl_users": [LOGIN]}
    extra = dict(blocked, mailops_junk={"sender": [JUNK_SENDER]} if args.scenario == "envelope" else
                 {"sasl_username": [LOGIN]})
    extra.update({"fix_tasks_file": os.path.join(LAB, "fix-relay.yml"), "mailops_report_dir": out_dir,
                  "report_print": False, "ansible_python_interpreter": wrapper})
    if args.pipelining:
        extra["ansible_pipelining"] = args.pipelining == "on"
    run = run_cleanup(args.venv, os.path.join(lab.STATE, "inventory.yml"), extra, env_extra=phase_times_env(times_file))
    with open(os.path.join(out_dir, "ansible.log"), "w") as handle:
        handle.write(run["output"])
    keep_mail_log(out_dir)
    if run["rc"] != 0:
        raise RuntimeError("the runbook failed:\n%s" % run["output"][-5000:])
    with open(os.path.join(out_dir, "report.json")) as handle:
        report = json.load(handle)
    if report["host_status"] != {"verified": 1}:
        raise RuntimeError("the host was not verified: %r" % report["host_status"])
    # counted from the archive's files on the host, as the raw script's are: the messages in its mbox batches (each
    # after a "From " line; mboxrd quotes any such line of a message), which must be what its manifest lists
    archived = int(host_sh("cat /var/backups/mailops-postfix/*/postfix/*/batch-*.mbox | grep -c '^From ' || true").strip())
    listed = int(host_sh("cat /var/backups/mailops-postfix/*/postfix/*/manifest.json | grep -c '\"queue_id\"' || true"))
    if listed != archived or report["hosts"][HOST]["phases"]["archived"] != archived:
        raise RuntimeError("the runbook's archive: %d messages in its files, %d in its manifest, %d in the report"
                           % (archived, listed, report["hosts"][HOST]["phases"]["archived"]))
    with open(times_file) as handle:
        phases = json.load(handle)
    shutil.copy(rss_log, os.path.join(out_dir, "module-runs.log"))
    with open(rss_log) as handle:
        rss = [int(line.split()[-1]) for line in handle if line.strip() and line.split()[-1].isdigit()]
    return {"wall_s": run["wall_s"], "phases_s": phases["seconds"], "tasks": phases["tasks"],
            "attempts": phases.get("attempts", {}),
            "controller_cpu_s": run["cpu_s"],
            "module_peak_rss_mib": max(rss) / 1024.0 if rss else None, "module_runs": len(rss),
            "archived": archived, "delivered": verify_host(args, archived)}


def run_raw(args):
    select = RAW_SELECT[args.scenario] % {"junk": JUNK_SENDER, "login": LOGIN}
    script = RAW_SCRIPT % {"archive": RAW_ARCHIVE, "select": select, "batch": args.batch,
                           "relay": "[127.0.0.1]:%d" % lab.SINK_PORT}
    key = os.path.join(lab.STATE, "id_ed25519")
    start = time.perf_counter()
    proc = subprocess.run(["ssh", "-i", key, "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
                           "-o", "LogLevel=ERROR", "root@" + lab.host_ip(HOST), script],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError("the raw script failed: %s" % proc.stderr[-3000:])
    steps, _seconds = step_seconds(proc.stdout)
    archived = int(host_sh("cat %s/batch-*.mbox | grep -c '^\\*\\*\\* ENVELOPE RECORDS' || true" % RAW_ARCHIVE).strip())
    return {"wall_s": elapsed, "steps_s": steps, "archived": archived, "delivered": verify_host(args, archived)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--junk", type=int, default=100000)
    parser.add_argument("--legitimate", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000, help="IDs per postcat/postsuper run of the raw script")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--scenario", choices=["envelope", "login"], default="envelope",
                        help="the junk's own envelope sender, or a compromised SASL login with forged senders")
    parser.add_argument("--pipelining", choices=["on", "off"],
                        help="ssh pipelining (ansible_pipelining as an extra var); default: the lab inventory's (on)")
    parser.add_argument("--fill-timeout", type=int, default=3600)
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv", "ctl-2.21"))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    runbook, raw = [], []
    try:
        for number in range(args.rounds):
            print("round %d: runbook" % (number + 1), flush=True)
            fresh_fill(args)
            out_dir = tempfile.mkdtemp(prefix="incident-%d-" % number, dir=args.out)
            runbook.append(run_runbook(args, out_dir))
            print("  runbook %.1f s %s" % (runbook[-1]["wall_s"], json.dumps(runbook[-1]["phases_s"], sort_keys=True)),
                  flush=True)
            print("  waited (tries): %s; the host's Postfix log: %s" % (
                json.dumps(runbook[-1]["attempts"], sort_keys=True), os.path.join(out_dir, "postfix.log.gz")), flush=True)
            print("round %d: raw" % (number + 1), flush=True)
            fresh_fill(args)
            raw.append(run_raw(args))
            print("  raw %.1f s %s" % (raw[-1]["wall_s"], json.dumps(raw[-1]["steps_s"], sort_keys=True)), flush=True)
    finally:
        subprocess.run([sys.executable, os.path.join(LAB, "lab.py"), "down"], check=False, stdout=subprocess.DEVNULL)
    runbook_s = statistics.median(run["wall_s"] for run in runbook)
    raw_s = statistics.median(run["wall_s"] for run in raw)
    print("\n%d junk + %d legitimate, medians of %d: runbook %.1f s, raw %.1f s, ratio %.2f; controller CPU %.1f s; "
          "module peak RSS %.0f MiB" % (args.junk, args.legitimate, args.rounds, runbook_s, raw_s, runbook_s / raw_s,
                                        statistics.median(run["controller_cpu_s"] for run in runbook),
                                        max(run["module_peak_rss_mib"] or 0 for run in runbook)))
    print("runbook phases, medians (s): " + ", ".join(
        "%s %.1f" % (name, statistics.median(run["phases_s"].get(name, 0.0) for run in runbook))
        for name in sorted(runbook[0]["phases_s"])))
    print("raw steps, medians (s): " + ", ".join(
        "%s %.1f" % (name, statistics.median(run["steps_s"][name] for run in raw)) for name in raw[0]["steps_s"]))
    # the steps both sides do, medians of every round: runbook phase / raw step(s)
    pairs = {"hold": (["hold"], ["hold"]), "purge (list, archive, delete)": (["purge"], ["list", "purge"]),
             "fix": (["fix"], ["fix"]), "requeue": (["requeue"], ["requeue"])}
    for label, (phases, steps) in pairs.items():
        # the callback names phases by their tasks' prefix ("Hold | ..."): compared without case
        mine = statistics.median(sum(seconds for name, seconds in run["phases_s"].items() if name.lower() in phases)
                                 for run in runbook)
        theirs = statistics.median(sum(run["steps_s"][name] for name in steps) for run in raw)
        print("  %s: runbook %.1f s, raw %.1f s, ratio %.2f" % (label, mine, theirs, mine / theirs if theirs else 0))
    with open(os.path.join(args.out, "incident-%s-%d.json" % (args.scenario, args.junk)), "w") as handle:
        json.dump({"args": vars(args), "runbook": runbook, "raw": raw, "ratio": runbook_s / raw_s}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
