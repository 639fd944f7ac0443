# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a lab run against the incident's ground truth, per host, from outside Ansible.

For every message lab/incident.py generated on a host, exactly one of these must be true:
  - legitimate: delivered to the host's sink exactly once (matched by Message-ID), or still queued;
  - junk or backscatter: archived (in a purge archive's manifest, by queue ID) and no longer queued,
    or still queued; never delivered.
And: nothing archived that was not junk, nothing legitimate deleted (= neither queued nor delivered).

    truth.py [--hosts h01,h02] [--json]     exit 0 when every host checks out
"""

from __future__ import absolute_import, division, print_function

import argparse
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402

MESSAGE_ID = re.compile(rb"^message-id:\s*<([^>]+)>", re.IGNORECASE | re.MULTILINE)


def delivered_ids(host):
    """Message-ID -> number of deliveries at the host's sink."""
    counts = {}
    for path in glob.glob(os.path.join(lab.host_dir(host), "mail", "delivered", "*")):
        with open(path, "rb") as handle:
            match = MESSAGE_ID.search(handle.read())
        key = match.group(1).decode("ascii", "replace") if match else "(no Message-ID: %s)" % os.path.basename(path)
        counts[key] = counts.get(key, 0) + 1
    return counts


def archived_ids(host):
    """Queue ID -> number of complete archives (manifests) holding it, on the host."""
    counts = {}
    pattern = os.path.join(lab.host_dir(host), "backups", "**", "manifest.json")
    for path in glob.glob(pattern, recursive=True):
        with open(path) as handle:
            for entry in json.load(handle)["messages"]:
                counts[entry["queue_id"]] = counts.get(entry["queue_id"], 0) + 1
    return counts


def queued_ids(host):
    return set(entry["queue_id"] for entry in lab.listing(host))


def check_host(host):
    with open(os.path.join(lab.STATE, "truth", host + ".json")) as handle:
        truth = json.load(handle)["messages"]
    delivered, archived, queued = delivered_ids(host), archived_ids(host), queued_ids(host)
    problems, figures = [], {"generated": len(truth), "junk": 0, "legitimate": 0, "delivered": 0,
                             "archived": 0, "queued": 0, "archived_twice": 0}
    known_ids = set()
    for entry in truth:
        known_ids.add(entry["queue_id"])
        times_delivered = delivered.get(entry["message_id"], 0)
        is_queued = entry["queue_id"] in queued
        if entry["kind"] == "legitimate":
            figures["legitimate"] += 1
            if entry["queue_id"] in archived:
                problems.append("legitimate %s (%s) was archived by a purge" % (entry["queue_id"], entry["message_id"]))
            if times_delivered > 1:
                problems.append("legitimate %s delivered %d times" % (entry["message_id"], times_delivered))
            if not times_delivered and not is_queued:
                problems.append("legitimate %s (%s) is lost: neither delivered nor queued"
                                % (entry["queue_id"], entry["message_id"]))
            figures["delivered"] += 1 if times_delivered else 0
        else:
            figures["junk"] += 1
            if times_delivered:
                problems.append("%s %s was delivered" % (entry["kind"], entry["message_id"]))
            if not is_queued and entry["queue_id"] not in archived:
                problems.append("%s %s was deleted without an archive" % (entry["kind"], entry["queue_id"]))
            figures["archived"] += 1 if entry["queue_id"] in archived else 0
            figures["archived_twice"] += 1 if archived.get(entry["queue_id"], 0) > 1 else 0
        figures["queued"] += 1 if is_queued else 0
    for queue_id in sorted(set(archived) - known_ids):
        problems.append("archived %s is not a generated message" % queue_id)
    return {"host": host, "ok": not problems, "problems": problems, "figures": figures}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--hosts", help="comma-separated host names (default: every lab host with a ground truth)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    hosts = args.hosts.split(",") if args.hosts else sorted(
        os.path.basename(path)[:-5] for path in glob.glob(os.path.join(lab.STATE, "truth", "*.json"))
        if os.path.basename(path)[:-5] in lab.load_state()["hosts"])
    results = [check_host(host) for host in hosts]
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for result in results:
            figures = result["figures"]
            print("%s: %s - %d generated: %d junk (%d archived, %d archived twice), %d legitimate "
                  "(%d delivered once), %d still queued" % (
                      result["host"], "OK" if result["ok"] else "PROBLEMS", figures["generated"], figures["junk"],
                      figures["archived"], figures["archived_twice"], figures["legitimate"], figures["delivered"],
                      figures["queued"]))
            for problem in result["problems"][:20]:
                print("  - " + problem)
    return 0 if results and all(result["ok"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
