# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The purge archive's own Python cost, without Postfix: what the module adds to postcat and postsuper.

A real capture of ``postcat -q`` (tests/unit/fixtures/postfix-3.7.11/stopped_postcat-q.stdout) is repeated N times
under distinct queue IDs, in batches of 1,000 as postcat prints them for the purge; each batch is split by
_postcat.split, each message's envelope sender read, and written by _archive.ArchiveWriter (mboxrd quoting,
sha256, manifest entry, fsync per batch) into a temporary directory, the manifest last - the work of
_actions._archive_first once postcat has printed. Prints the CPU seconds (best of R) and the share of each
function (cProfile) of one more run.

    make collection && python3 bench/archive_cpu.py [--messages 100000] [--rounds 3] [--profile]
"""

from __future__ import absolute_import, division, print_function

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, ".build"))

from ansible_collections.mailops.postfix.plugins.module_utils import _archive, _postcat  # noqa: E402

CAPTURE = os.path.join(ROOT, "tests", "unit", "fixtures", "postfix-3.7.11", "stopped_postcat-q.stdout")
CAPTURED_ID = b"7E3CF172021"
BATCH = 1000


def batches(count):
    with open(CAPTURE, "rb") as handle:
        one = handle.read()
    ids = ["%011X" % (0xA00000000 + number) for number in range(count)]
    for start in range(0, count, BATCH):
        batch = ids[start:start + BATCH]
        yield batch, b"".join(one.replace(CAPTURED_ID, queue_id.encode()) for queue_id in batch)


def archive(printed_batches):
    directory = tempfile.mkdtemp(prefix="mailops-bench-")
    listed = {"queue_name": "hold", "arrival_time": 1764424215, "message_size": 383, "forced_expire": False,
              "sender": "s@example.org", "recipients": [{"address": "r@example.net"}]}
    try:
        writer = _archive.ArchiveWriter(directory, "postfix", time.time(), None)
        writer.open()
        for batch, output in printed_batches:
            writer.begin_batch()
            printed = _postcat.split(output, batch)
            for queue_id in batch:
                sender = _postcat.envelope_sender(printed[queue_id]["envelope"])
                writer.add(dict(listed, queue_id=queue_id, envelope_sender=sender), printed[queue_id]["content"])
            writer.end_batch()
        writer.close({"created": 0})
    finally:
        shutil.rmtree(directory)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    printed_batches = list(batches(args.messages))
    seconds = []
    for _round in range(args.rounds):
        started = time.process_time()
        archive(printed_batches)
        seconds.append(time.process_time() - started)
    print("archive path, %d messages: %.2f s CPU (best of %d; all: %s)"
          % (args.messages, min(seconds), args.rounds, ", ".join("%.2f" % s for s in seconds)))
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        archive(printed_batches)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
