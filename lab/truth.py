# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a lab run against the incident's ground truth, per target, from outside Ansible.

Every message lab/incident.py generated and lab/traffic.py got accepted is found by its Message-ID
in the target's delivery sink, in its purge archives (any file under the instance's archive
directories), or in its queue (postcat of every queued message). Then, for every message:
  - junk and backscatter: never delivered; never queued outside hold (waiting to be delivered);
    gone from the queue only if archived (every purged message archived);
  - legitimate: delivered exactly once, or still queued outside hold (with --final, still on hold is a
    problem: the runbook held it and never released it); never archived;
  - quarantine (the host's earlier hold): still on hold under the same queue ID; never delivered,
    never archived.
And nothing archived that is not a generated message.

    truth.py [--targets h01,h05b] [--json] [--not-final]     exit 0 when every target checks out
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
import gzip
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402

MESSAGE_ID = re.compile(rb"^message-id:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)
ENVELOPE = re.compile(rb"^\*\*\* ENVELOPE RECORDS (\S+) \*\*\*$")
ARCHIVE_ROOT = ("backups", "mailops-postfix")


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


def archived_ids(name):
    """Message-ID -> number of archive copies, over every archive of the target's instance on its host."""
    entry = lab.target(name)
    root = os.path.join(lab.host_dir(entry["host"]), *ARCHIVE_ROOT) + "/" + entry["instance"]
    counts = {}
    for path in glob.glob(os.path.join(root, "**", "*"), recursive=True):
        if not os.path.isfile(path) or os.path.basename(path) == "manifest.json" or path.endswith(".tar.gz"):
            continue
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            for message_id in _ids_in(handle.read()):
                counts[message_id] = counts.get(message_id, 0) + 1
    return counts


def queued(name):
    """Message-ID -> (queue ID, queue name) of every message queued on the target now."""
    listing = dict((m["queue_id"], m["queue_name"]) for m in lab.listing(name))
    found = {}
    ids = sorted(listing)
    for start in range(0, len(ids), 500):
        output = lab.run(lab.tool(name, "postcat") + ["-q"] + ids[start:start + 500], check=False).stdout.encode()
        current = None
        for line in output.split(b"\n"):
            match = ENVELOPE.match(line)
            if match:
                current = os.path.basename(match.group(1).decode())
                continue
            ids_here = _ids_in(line) if current else []
            if ids_here and current in listing:
                found.setdefault(ids_here[0], (current, listing[current]))
                current = None          # the first Message-ID header of the message only
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


def check_host(name, final=True):
    truth = generated(name)
    delivered, archived, in_queue = delivered_ids(name), archived_ids(name), queued(name)
    problems = []
    figures = dict((key, 0) for key in ("generated", "junk", "legitimate", "quarantine", "live", "delivered",
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
        if kind == "legitimate":
            figures["legitimate"] += 1
            figures["delivered"] += 1 if times else 0
            if copies:
                problems.append("legitimate %s was archived by a purge" % message_id)
            if times > 1:
                problems.append("legitimate %s delivered %d times" % (message_id, times))
            if not times and not queue:
                problems.append("legitimate %s is lost: neither delivered nor queued" % message_id)
            if final and queue == "hold":
                problems.append("legitimate %s (%s) is still on hold: held by the runbook, never released"
                                % (message_id, queue_id))
        elif kind == "quarantine":
            figures["quarantine"] += 1
            if times or copies:
                problems.append("quarantined %s was %s" % (message_id, "delivered" if times else "archived"))
            if queue != "hold" or queue_id != entry["queue_id"]:
                problems.append("quarantined %s (%s) is no longer on hold under its ID (now %s in %s)"
                                % (message_id, entry["queue_id"], queue_id, queue))
        else:
            figures["junk"] += 1
            figures["archived"] += 1 if copies else 0
            figures["archived_twice"] += 1 if copies > 1 else 0
            if times:
                problems.append("%s %s was delivered" % (kind, message_id))
            if queue and queue != "hold":
                problems.append("%s %s (%s) is in %s, waiting to be delivered" % (kind, message_id, queue_id, queue))
            if not queue and not copies:
                problems.append("%s %s was deleted without an archive" % (kind, message_id))
    for message_id in sorted(set(archived) - known):
        problems.append("archived %s is not a generated message" % message_id)
    return {"host": name, "ok": not problems, "problems": problems, "figures": figures}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--targets", "--hosts", dest="targets",
                        help="comma-separated targets (default: every lab target with a ground truth)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--not-final", action="store_true",
                        help="a run still under way: legitimate mail on hold is not a problem")
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
                  "%d legitimate (%d delivered once), %d quarantined (on hold, untouched); %d still queued"
                  % (result["host"], "OK" if result["ok"] else "PROBLEMS", f["generated"], f["live"], f["junk"],
                     f["archived"], f["archived_twice"], f["legitimate"], f["delivered"], f["quarantine"], f["queued"]))
            for problem in result["problems"][:20]:
                print("  - " + problem)
    return 0 if results and all(result["ok"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
