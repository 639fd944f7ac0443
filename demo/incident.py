# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put a spam incident into this machine's test Postfix (the one the integration tests own).

A compromised local account sends a burst to many domains, a backscatter wave of bounces
(null sender) follows, mixed with legitimate mail from many senders. Everything stays
deferred: the instance relays to a loopback port where nothing listens.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import live_postfix  # noqa: E402

JUNK_SENDER = "webmaster@example.org"
JUNK_DOMAINS = ["victim%d.example" % i for i in range(12)]
LEGIT_SENDERS = ["alice@example.org", "bob@example.org", "billing@example.org", "hr@example.org",
                 "carol@partners.example", "support@example.org"]


def main():
    instance = live_postfix.configure_default()
    instance.start()
    instance.thaw()
    instance.empty()
    junk = 0
    for index, domain in enumerate(JUNK_DOMAINS):
        count = 20 + 5 * index
        instance.smtp_source(count, JUNK_SENDER, "user@%s" % domain, recipients_each=1 + index % 4, sessions=4)
        junk += count
    backscatter = 25
    for index in range(backscatter):
        instance.smtp("", ["bounce%d@%s" % (index, JUNK_DOMAINS[index % 3])], subject="Undelivered Mail Returned to Sender")
    legit = 0
    for index, sender in enumerate(LEGIT_SENDERS):
        for number in range(8):
            instance.smtp(sender, ["customer%d@client%d.example" % (number, index)], subject="Invoice %d" % number)
            legit += 1
    total = junk + backscatter + legit
    instance.settled({"deferred": total}, timeout=120)
    print(json.dumps({"junk": junk, "backscatter": backscatter, "legitimate": legit, "total": total}))


if __name__ == "__main__":
    main()
