# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_queue_info: text and JSON listings of one live queue of over 1,000 mixed messages agree."""

from __future__ import absolute_import, division, print_function

import os

import pytest


def _project(message):
    """What both listings can carry, for comparisons."""
    return (message["queue_id"], message["sender"], message["message_size"], message["forced_expire"],
            tuple((r["address"], r.get("delay_reason")) for r in message["recipients"]))


@pytest.mark.skipif(os.environ.get("MAILOPS_SKIP_LARGE") == "1", reason="MAILOPS_SKIP_LARGE=1")
def test_text_and_json_agree_on_1000_mixed_messages(postfix, playbook):
    postfix.reset()
    senders = ["news@example.org", "alerts@mon.example.com", "Mixed.Case@Example.ORG", "x+tag@example.net"]
    for index, sender in enumerate(senders):
        postfix.smtp_source(240, sender, "user%d@dest%d.example" % (index, index), recipients_each=1 + index % 3,
                            sessions=8)
    postfix.smtp_source(40, "held@example.org", "h@example.net", subject="[HOLD] bulk", recipients_each=2)
    for index in range(10):
        postfix.smtp('"odd local %d"@example.org' % index, ['"a@b%d"@example.net' % index, "plain@example.net"])
        postfix.smtp(u"us\u00e9r%d@\u00e9xample.org" % index, [u"\u043f%d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444" % index],
                     utf8=True)
    total = 4 * 240 + 40 + 20
    used = senders + ["held@example.org"] + ['"odd local %d"@example.org' % index for index in range(10)] \
        + [u"us\u00e9r%d@\u00e9xample.org" % index for index in range(10)]
    # exact: the reset left nothing in flight, and nothing here bounces or sends a notice
    postfix.settled({"deferred": total - 40, "hold": 40}, 180, senders=used)
    postfix.freeze()
    postfix.sendmail("late@example.org", ["m@example.net"])
    postfix.settled({"deferred": total - 40, "hold": 40, "maildrop": 1}, senders=used + ["late@example.org"])
    try:
        queue = postfix.queue()
        out = playbook("postfix_queue_info", scenario="compare_sources")["results"]
        as_json, as_text = out["as_json"]["messages"], out["as_text"]["messages"]
        assert len(as_json) == len(as_text) == len(queue) == total + 1
        assert sorted(map(_project, as_json)) == sorted(map(_project, as_text)) == sorted(map(_project, queue))
        text_queue = dict((m["queue_id"], m["queue_name"]) for m in as_text)
        for message in as_json:
            told = text_queue[message["queue_id"]]
            assert told == message["queue_name"] or (told is None and message["queue_name"] in ("deferred", "maildrop"))
        assert sum(1 for m in as_text if m["queue_name"] == "hold") == 40
        assert dict((m["queue_id"], m["arrival_time"]) for m in as_text) == \
            dict((m["queue_id"], m["arrival_time"]) for m in as_json)
    finally:
        postfix.reset()
