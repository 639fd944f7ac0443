# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a lab run against the incident's ground truth, per target, from outside Ansible.

Every message lab/incident.py generated and lab/traffic.py got accepted is found by its Message-ID in the
target's delivery sink, in its purge archives, or in its queue. Every message has exactly one correct end
state when the run is over (--final, the default):
  - junk and backscatter: archived once and gone - never delivered, never still queued (on hold included);
  - legitimate: delivered exactly once - never archived, never still queued (on hold included);
  - quarantine (the host's earlier hold): still on hold under the same queue ID; never delivered or archived;
  - second (a compromised account that started during the run, which no approved junk names): still on hold,
    kept by the release guard; never delivered, never archived.
While a run is under way or was interrupted (--not-final), junk may still be queued on hold (archived or not)
and legitimate mail queued anywhere; nothing may be delivered that is not legitimate, nothing archived that
is legitimate, nothing lost, nothing deleted without an archive.

"Archived" is checked on the archive itself, as re-injection would read it, with this script's own reader
(not the collection's): an archive directory counts only with its manifest.json, every message's bytes are read
at the manifest's offset and length, unquoted (mboxrd) and checked against the manifest's sha256 - a corrupt or
incomplete archive (no manifest: a purge killed while it was archiving, before it deleted anything) is not an
archive - what it holds counts as not archived, so a message deleted with only such a copy is a problem. The
queue is read with raw postqueue -j and postcat -q (a message gone between the two is read again); a final check
first waits (60 s at most) for mail still on its way to the sink.

    truth.py [--targets h01,h05b] [--json] [--not-final]     exit 0 when every target checks out
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
import hashlib
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402

MESSAGE_ID = re.compile(rb"^message-id:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)
ENVELOPE = re.compile(rb"^\*\*\* ENVELOPE RECORDS (\S+) \*\*\*$")
MISSING = re.compile(r"open queue file ([0-9A-Za-z]+): No such file or directory")
QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
ARCHIVE_ROOT = ("backups", "mailops-postfix")
SETTLE_SECONDS = 60


def _ids_in(data):
    return [match.group(1).decode("ascii", "replace") for match in MESSAGE_ID.finditer(data)]


def delivered_ids(name):
    """Message-ID -> number of deliveries at the target's sink."""
    counts = {}
    for path in glob.glob(os.path.join(lab.target_path(name, "sink"), "*")):
        with open(path, "rb") as handle:
            found = _ids_in(handle.read())
        key = found[0] if found else "(no Message-ID: %s)" % os.path.basename(path)
        counts[key] = counts.get(key, 0) + 1
    return counts


def archive_dirs(name):
    """The target's archive directories (any directory holding a manifest.json or a batch file), on its host."""
    entry = lab.target(name)
    root = os.path.join(lab.host_dir(entry["host"]), *ARCHIVE_ROOT)
    found = set()
    for path in glob.glob(os.path.join(root, "*", entry["instance"], "*")):
        if os.path.isdir(path):
            found.add(path)
    return sorted(found)


def archived_ids(name):
    """(Message-ID -> number of archived copies that check out, problems) over every archive of the target."""
    counts, problems = {}, []
    for path in archive_dirs(name):
        manifest_path = os.path.join(path, "manifest.json")
        if not os.path.exists(manifest_path):
            # a purge killed while archiving: it deleted nothing (deletion waits for the manifest), so this is no
            # loss by itself; a message deleted with no complete archive is caught message by message
            continue
        with open(manifest_path) as handle:
            manifest = json.load(handle)
        handles = {}
        try:
            for entry in manifest.get("messages", []):
                if "offset" in entry:
                    handle = handles.get(entry["file"]) or handles.setdefault(entry["file"], open(os.path.join(path, entry["file"]), "rb"))
                    handle.seek(entry["offset"])
                    content = QUOTED_FROM.sub(rb"\1", handle.read(entry["length"]))
                else:
                    with open(os.path.join(path, entry["file"]), "rb") as single:
                        content = single.read()
                if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                    problems.append("archived %s in %s does not match its sha256" % (entry["queue_id"], path))
                    continue
                found = _ids_in(content)
                key = found[0] if found else "(no Message-ID: %s)" % entry["queue_id"]
                counts[key] = counts.get(key, 0) + 1
        finally:
            for handle in handles.values():
                handle.close()
    return counts, problems


def queued(name):
    """Message-ID -> (queue ID, queue name) of every message queued on the target now (postqueue -j, postcat -q)."""
    listing = dict((m["queue_id"], m["queue_name"]) for m in lab.listing(name))
    found = {}
    remaining = sorted(listing)
    while remaining:
        batch, remaining = remaining[:500], remaining[500:]
        proc = lab.run(lab.tool(name, "postcat") + ["-q"] + batch, check=False)
        current, printed = None, set()
        for line in proc.stdout.encode().split(b"\n"):
            match = ENVELOPE.match(line)
            if match:
                current = os.path.basename(match.group(1).decode())
                printed.add(current)
                continue
            ids_here = _ids_in(line) if current else []
            if ids_here and current in listing:
                found.setdefault(ids_here[0], (current, listing[current]))
                current = None          # the first Message-ID header of the message only
        if proc.returncode != 0:        # postcat stops at the first ID it cannot open (gone meanwhile): the rest again
            missing = MISSING.search(proc.stderr)
            if not missing:
                raise lab.LabError("postcat failed on %s: %s" % (name, proc.stderr.strip()))
            rest = batch[batch.index(missing.group(1)) + 1:] if missing.group(1) in batch else []
            remaining = [queue_id for queue_id in rest if queue_id not in printed] + remaining
    return found


def generated(name):
    """Every message of the target's ground truth: the incident's, then what traffic.py got accepted."""
    folder = os.path.join(lab.STATE, "truth")
    with open(os.path.join(folder, name + ".json")) as handle:
        messages = json.load(handle)["messages"]
    live = os.path.join(folder, name + ".live.jsonl")
    if os.path.exists(live):
        with open(live) as handle:
            messages += [json.loads(line) for line in handle if line.strip()]
    return messages


def _wait_for_legitimate_mail(name, truth):
    """Wait (SETTLE_SECONDS at most) until no legitimate message is on its way to the sink: each one is delivered,
    or on hold (where it stays - the check says so), none queued elsewhere or between the queue and the sink.
    Returns when that is so or the time is up (the check then reports what is still queued)."""
    legitimate = set(entry["message_id"] for entry in truth if entry["kind"] == "legitimate")
    deadline = time.time() + SETTLE_SECONDS
    while time.time() < deadline:
        delivered = set(delivered_ids(name))
        in_queue = queued(name)
        on_its_way = [message_id for message_id in legitimate - delivered
                      if message_id not in in_queue or in_queue[message_id][1] != "hold"]
        if not on_its_way:
            return
        time.sleep(0.5)


def check_host(name, final=True):
    truth = generated(name)
    if final:
        _wait_for_legitimate_mail(name, truth)
    delivered = delivered_ids(name)
    archived, problems = archived_ids(name)
    in_queue = queued(name)
    figures = dict((key, 0) for key in ("generated", "junk", "legitimate", "quarantine", "second", "live", "delivered",
                                        "archived", "queued", "held", "archived_twice"))
    known = set()
    for entry in truth:
        message_id = entry["message_id"]
        known.add(message_id)
        times = delivered.get(message_id, 0)
        copies = archived.get(message_id, 0)
        queue_id, queue = in_queue.get(message_id, (None, None))
        figures["generated"] += 1
        figures["live"] += 1 if "via" in entry else 0
        figures["queued"] += 1 if queue else 0
        figures["held"] += 1 if queue == "hold" else 0
        kind = entry["kind"]
        where = "%s (%s)" % (message_id, queue_id) if queue_id else message_id
        if kind == "legitimate":
            figures["legitimate"] += 1
            figures["delivered"] += 1 if times == 1 else 0
            if copies:
                problems.append("legitimate %s was archived by a purge" % where)
            if times > 1:
                problems.append("legitimate %s delivered %d times" % (where, times))
            if not times and not queue:
                problems.append("legitimate %s is lost: neither delivered nor queued" % where)
            if final and queue:
                problems.append("legitimate %s is still queued in %s: %s" % (
                    where, queue, "held by the runbook, never released" if queue == "hold" else "never delivered"))
        elif kind == "quarantine":
            figures["quarantine"] += 1
            if times or copies:
                problems.append("quarantined %s was %s" % (where, "delivered" if times else "archived"))
            if queue != "hold" or queue_id != entry["queue_id"]:
                problems.append("quarantined %s (%s) is no longer on hold under its ID (now %s in %s)"
                                % (message_id, entry["queue_id"], queue_id, queue))
        elif kind == "second":
            figures["second"] += 1
            if times or copies:
                problems.append("%s of the second account was %s" % (where, "delivered" if times else "archived"))
            if final and queue != "hold":
                problems.append("%s of the second account is %s, not kept on hold by the release guard"
                                % (where, "in %s" % queue if queue else "gone"))
            if not queue and not times and not copies:
                problems.append("%s of the second account is lost" % where)
        else:
            figures["junk"] += 1
            figures["archived"] += 1 if copies else 0
            figures["archived_twice"] += 1 if copies > 1 else 0
            if times:
                problems.append("%s %s was delivered" % (kind, where))
            if queue and queue != "hold":
                problems.append("%s %s is in %s, waiting to be delivered" % (kind, where, queue))
            if not queue and not copies:
                problems.append("%s %s was deleted without an archive" % (kind, where))
            if final and queue:
                problems.append("%s %s is still on hold: never purged" % (kind, where))
            if final and copies > 1:
                problems.append("%s %s was archived %d times" % (kind, where, copies))
    for message_id in sorted(set(archived) - known):
        problems.append("archived %s is not a generated message" % message_id)
    for message_id in sorted(set(delivered) - known):
        problems.append("delivered %s is not a generated message" % message_id)
    return {"host": name, "ok": not problems, "problems": problems, "figures": figures}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--targets", "--hosts", dest="targets",
                        help="comma-separated targets (default: every lab target with a ground truth)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--not-final", action="store_true",
                        help="a run still under way or interrupted: junk and legitimate mail may still be queued")
    args = parser.parse_args(argv)
    names = args.targets.split(",") if args.targets else sorted(
        entry["target"] for entry in lab.targets()
        if os.path.exists(os.path.join(lab.STATE, "truth", entry["target"] + ".json")))
    results = [check_host(name, final=not args.not_final) for name in names]
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for result in results:
            f = result["figures"]
            print("%s: %s - %d messages (%d arrived during the run): %d junk (%d archived, %d archived twice), "
                  "%d legitimate (%d delivered once), %d quarantined (on hold, untouched)%s; %d still queued"
                  % (result["host"], "OK" if result["ok"] else "PROBLEMS", f["generated"], f["live"], f["junk"],
                     f["archived"], f["archived_twice"], f["legitimate"], f["delivered"], f["quarantine"],
                     ", %d from a second account (kept on hold by the release guard)" % f["second"] if f["second"] else "",
                     f["queued"]))
            for problem in result["problems"][:20]:
                print("  - " + problem)
    return 0 if results and all(result["ok"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
