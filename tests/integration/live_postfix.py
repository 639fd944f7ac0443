# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real Postfix (Debian's package) for the integration tests, and ways to fill its queues.

The test instance relays everything to [127.0.0.1]:10025 where nothing
listens, so mail stays deferred with a real delay reason and never leaves the
machine; slow.example goes to an smtp-sink that stalls at DATA (mail stays
active); a Subject containing [HOLD] is held by header_checks. Incoming and
maildrop are frozen by disabling qmgr and pickup (master_service_disable).
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import smtplib
import subprocess
import time

MARK = "# mailops.postfix integration-test instance: safe to overwrite"
RELAY_PORT = 10025      # nothing listens here: "Connection refused"
SLOW_PORT = 10026       # smtp-sink stalling at DATA
DUMP_PORT = 10027       # smtp-sink accepting mail for sink.example and dumping one file per message
SMTP_PORT = 25          # the default instance's smtpd, loopback only
SECOND = "postfix-b"


class NotOurs(RuntimeError):
    pass


def run(argv, check=True, data=None, env=None, timeout=300):
    full_env = dict(os.environ, LC_ALL="C")
    full_env.update(env or {})
    proc = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=full_env, universal_newlines=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (%s): %s%s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


def wait_for(predicate, timeout=60, what="condition", show=None):
    """Poll until predicate() is true (the queue changes asynchronously); fail after timeout.

    ``show`` is called on failure to put the state seen last into the error.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            shown = None if show is None else show()
            seen = "" if show is None else ": last seen %s" % (shown if isinstance(shown, str) else repr(shown))
            raise AssertionError("timed out after %ss waiting for %s%s" % (timeout, what, seen))
        time.sleep(0.1)


# Where a queued message, or Postfix's record of one, can be: what a reset removes.
SPOOL_DIRS = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt", "defer", "bounce", "trace")


def processes_in_group(group):
    """[(pid, command)] of the processes in process group GROUP (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                stat = handle.read()
        except OSError:
            continue
        command, _sep, rest = stat.rpartition(")")
        fields = rest.split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == group:
            found.append((int(entry), command.partition("(")[2]))
    return found


def _first_recipient(message):
    return message["recipients"][0]["address"] if message["recipients"] else "-"


def describe_queue(messages, senders=None):
    """What a listing holds, for a failure message: messages from senders the test did not use, one by
    one (sender, queue, first recipient, ID), then how many per queue, sender and first recipient."""
    known = None if senders is None else set(s.lower() for s in senders)
    unexpected = ["%s in %s to %s (%s)" % (m["sender"], m["queue_name"], _first_recipient(m), m["queue_id"])
                  for m in messages if known is not None and m["sender"].lower() not in known]
    groups = {}
    for m in messages:
        key = (m["queue_name"], m["sender"], _first_recipient(m))
        groups[key] = groups.get(key, 0) + 1
    lines = ["%d messages" % len(messages)]
    if unexpected:
        lines.append("from senders the test did not use: " + "; ".join(unexpected[:20]))
    lines += ["%s %s -> %s: %d" % (queue, sender, first, count) for (queue, sender, first), count in sorted(groups.items())]
    return "\n  ".join(lines[:60])


class Instance:
    """One Postfix instance, by config directory."""

    def __init__(self, config_dir="/etc/postfix", smtp_port=SMTP_PORT):
        self.config_dir = config_dir
        self.smtp_port = smtp_port

    @property
    def c(self):
        return ["-c", self.config_dir]

    def postconf(self, *settings):
        run(["postconf"] + self.c + ["-e"] + list(settings))

    def get(self, name):
        return run(["postconf"] + self.c + ["-h", name]).stdout.strip()

    def queue(self):
        out = run(["postqueue"] + self.c + ["-j"]).stdout
        return [json.loads(line) for line in out.splitlines()]

    def text_queue(self):
        return run(["postqueue"] + self.c + ["-p"]).stdout

    def settled(self, expected, timeout=60, senders=None):
        """Wait until the queue holds exactly ``expected`` ({queue_name: count}).

        On a timeout the failure shows what is queued, not only the counts: per queue, sender and first
        recipient how many; with ``senders`` (the envelope senders the test used), every message from
        another sender first - the unexpected ones.
        """
        return wait_for(lambda: self.by_queue() == expected, timeout, "queues %r" % (expected,),
                        lambda: describe_queue(self.queue(), senders))

    def by_queue(self):
        counts = {}
        for message in self.queue():
            counts[message["queue_name"]] = counts.get(message["queue_name"], 0) + 1
        return counts

    def postqueue(self, *args):
        return run(["postqueue"] + self.c + list(args))

    def postsuper(self, *args, data=None):
        return run(["postsuper"] + self.c + list(args), data=data)

    def running(self):
        return run(["postfix"] + self.c + ["status"], check=False).returncode == 0

    def start(self):
        if not self.running():
            run(["postfix"] + self.c + ["start"])
        wait_for(self.running, 30, "postfix to start")

    def stop(self):
        """Stop the instance and wait until its master and every process it started are gone.

        The master runs in a process group of its own (it calls setsid), and on SIGTERM it signals that
        group: the stop is over when no process of the group is left, not only when the master's lock is
        released (a delivery agent or cleanup may still be finishing).
        """
        group = self.master_pid()
        if self.running():
            run(["postfix"] + self.c + ["stop"])
        wait_for(lambda: not self.running(), 30, "postfix to stop")
        if group is not None:
            wait_for(lambda: not processes_in_group(group), 30, "the processes of %s's master (group %d) to exit"
                     % (self.config_dir, group), lambda: processes_in_group(group))

    def master_pid(self):
        """The PID in this instance's master.pid, or None (no file: stopped)."""
        try:
            with open(os.path.join(self.queue_directory(), "pid", "master.pid")) as handle:
                return int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def reload(self):
        run(["postfix"] + self.c + ["reload"])

    def freeze(self):
        """Stop pickup and qmgr: new mail stays in maildrop (sendmail) or incoming (SMTP)."""
        self.postconf("master_service_disable = pickup/unix qmgr/unix")
        self.reload()

    def thaw(self):
        self.postconf("master_service_disable =")
        self.reload()

    def queue_directory(self):
        return self.get("queue_directory")

    def reset(self):
        """An empty queue that nothing can add to behind the test's back: the instance stopped, every one of
        its processes gone, every queue file removed, then started again, thawed.

        Deleting with postsuper while Postfix runs is not enough: a message an earlier test left in flight
        (pickup copying a maildrop file, cleanup writing an incoming file, the bounce daemon writing a notice)
        is invisible to the listing until its file is complete, and appears after the queue was seen empty -
        the extra deferred message of the 1,000-message test (issue #23). With the master and its process
        group gone, nothing is in flight; what the test sends next is all the queue holds.
        """
        self.stop()
        root = self.queue_directory()
        for name in SPOOL_DIRS:
            for directory, _dirs, files in os.walk(os.path.join(root, name)):
                for filename in files:
                    os.unlink(os.path.join(directory, filename))
        self.postconf("master_service_disable =")
        self.start()
        left = self.queue()
        if left:
            raise AssertionError("the queue of %s is not empty after a reset: %s"
                                 % (self.config_dir, describe_queue(left)))

    # ------------------------------------------------------------ injection

    def smtp_source(self, count, sender, recipient, recipients_each=1, subject=None, sessions=4, size=None):
        argv = ["smtp-source", "-d", "-s", str(sessions), "-m", str(count), "-f", sender, "-t", recipient,
                "-r", str(recipients_each), "-N"]
        if subject:
            argv += ["-S", subject]
        if size:
            argv += ["-l", str(size)]
        run(argv + ["127.0.0.1:%d" % self.smtp_port])

    def smtp(self, sender, recipients, subject="test", body="hello\n", utf8=False, headers=()):
        """One message over SMTP from 127.0.0.1, without a login; HEADERS (lines) come first."""
        message = "".join(line + "\r\n" for line in headers) + "From: <%s>\r\nSubject: %s\r\n\r\n%s" % (
            sender, subject, body)
        with smtplib.SMTP("127.0.0.1", self.smtp_port) as client:
            options = ["SMTPUTF8"] if utf8 else []
            client.sendmail(sender, recipients, message.encode("utf-8"), mail_options=options)

    def sendmail(self, sender, recipients, subject="local", user=None, headers=()):
        """Local submission (as USER when given): the message goes to maildrop first."""
        body = "Subject: %s\n%s\nlocal mail\n" % (subject, "".join(line + "\n" for line in headers))
        argv = ["sendmail", "-C", self.config_dir, "-f", sender, "--"] + list(recipients)
        if user:
            argv = ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"] + argv
        run(argv, data=body)

    def smtp_as(self, login, client, sender, recipients, text, mail_options=()):
        """One message over SMTP as the front end that authenticated LOGIN from CLIENT (XCLIENT); its queue ID."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port) as session:
            session.ehlo("frontend.test")
            attributes = ["LOGIN=%s" % login] if login else []
            attributes += ["ADDR=%s" % client, "NAME=[UNAVAILABLE]", "HELO=client.example"]
            code, reply = session.docmd("XCLIENT", " ".join(attributes))
            assert code == 220, (code, reply)
            session.ehlo("client.example")
            code, reply = session.mail(sender, list(mail_options))
            assert code == 250, (code, reply)
            for recipient in recipients:
                session.rcpt(recipient)
            code, reply = session.data(text.encode("utf-8"))
            assert code == 250, (code, reply)
            return reply.decode().rsplit("queued as ", 1)[1].strip()


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def configure_default():
    """Write the test configuration of the default instance from the package's pristine files.

    Refuses to overwrite a main.cf that the tests did not write.
    """
    main_cf = "/etc/postfix/main.cf"
    if os.path.exists(main_cf):
        with open(main_cf) as handle:
            if MARK not in handle.read():
                raise NotOurs("%s was not written by these tests: refusing to touch this machine's Postfix" % main_cf)
    _write(main_cf, MARK + "\n" + open("/usr/share/postfix/main.cf.debian").read())
    shutil.copy("/usr/share/postfix/master.cf.dist", "/etc/postfix/master.cf")
    _write("/etc/postfix/mailops_header_checks", "/^Subject:.*\\[HOLD\\]/ HOLD held by test header_checks\n")
    _write("/etc/postfix/mailops_transport", "slow.example smtp:[127.0.0.1]:%d\nsink.example smtp:[127.0.0.1]:%d\n"
           % (SLOW_PORT, DUMP_PORT))
    instance = Instance()
    instance.postconf(
        "myhostname = mailops-test.invalid",
        "mydomain = mailops-test.invalid",
        "mydestination =",
        "alias_maps =",
        "alias_database =",
        "inet_interfaces = loopback-only",
        "inet_protocols = ipv4",
        "relayhost = [127.0.0.1]:%d" % RELAY_PORT,
        "transport_maps = texthash:/etc/postfix/mailops_transport",
        "header_checks = regexp:/etc/postfix/mailops_header_checks",
        "maillog_file = /var/log/postfix-mailops-test.log",
        "smtputf8_enable = yes",
        "smtpd_tls_security_level = none",
        "smtp_tls_security_level = none",
        "master_service_disable =",
        "default_destination_concurrency_limit = 20",
        # the tests play a submission front end that authenticated its users and passes their login on (XCLIENT
        # LOGIN): Postfix records sasl_username as for SMTP AUTH, and treats the client as authenticated
        "smtpd_authorized_xclient_hosts = 127.0.0.1",
        "smtpd_sasl_auth_enable = yes",
    )
    run(["postconf", "-F", "*/*/chroot = n"])
    open("/var/log/postfix-mailops-test.log", "a").close()
    os.chmod("/var/log/postfix-mailops-test.log", 0o644)
    run(["newaliases"], check=False)
    return instance


def configure_second():
    """A second instance made with postmulti, relaying the same way."""
    default = Instance()
    if default.get("multi_instance_enable") != "yes":
        run(["postmulti", "-e", "init"])
    config_dir = "/etc/%s" % SECOND
    if not os.path.isdir(config_dir):
        run(["postmulti", "-I", SECOND, "-G", "mta", "-e", "create"])
    else:  # made by an earlier run; the default main.cf was written anew since
        listed = default.get("multi_instance_directories").split()
        if config_dir not in listed:
            default.postconf("multi_instance_directories = %s" % " ".join(listed + [config_dir]))
    second = Instance(config_dir, smtp_port=None)
    second.postconf(
        "myhostname = mailops-b.invalid",
        "authorized_submit_users = static:anyone",
        "authorized_mailq_users = static:anyone",
        "mydestination =",
        "inet_interfaces = loopback-only",
        "inet_protocols = ipv4",
        "relayhost = [127.0.0.1]:%d" % RELAY_PORT,
        "maillog_file = /var/log/postfix-mailops-b.log",
        # no listener: the default instance owns 127.0.0.1:25; this one gets mail by sendmail
        "master_service_disable = inet",
        "smtputf8_enable = yes",
    )
    run(["postconf", "-c", config_dir, "-F", "*/*/chroot = n"])
    run(["postmulti", "-i", SECOND, "-e", "enable"])
    open("/var/log/postfix-mailops-b.log", "a").close()
    return second


def _listening(port):
    import socket
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class SlowSink:
    """An smtp-sink on loopback that never answers DATA: mail to it stays active."""

    def __init__(self):
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["smtp-sink", "-u", "postfix", "-w", "3600", "127.0.0.1:%d" % SLOW_PORT, "100"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: self.proc.poll() is not None or _listening(SLOW_PORT), 10, "smtp-sink")
        if self.proc.poll() is not None:
            raise RuntimeError("smtp-sink did not start: %s" % self.proc.stderr.read())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()   # our own child, by its PID
            self.proc.wait()


class DumpSink:
    """An smtp-sink on loopback that accepts mail and writes one file per message into a directory.

    Each file starts with the envelope (X-Mail-Args: <sender>, X-Rcpt-Args: <rcpt>), then the message.
    """

    def __init__(self, directory):
        self.directory = directory
        self.proc = None

    def start(self):
        import pwd
        os.makedirs(self.directory, exist_ok=True)
        os.chown(self.directory, pwd.getpwnam("postfix").pw_uid, -1)
        self.proc = subprocess.Popen(["smtp-sink", "-u", "postfix", "-d", os.path.join(self.directory, "%H%M%S."),
                                      "127.0.0.1:%d" % DUMP_PORT, "100"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: self.proc.poll() is not None or _listening(DUMP_PORT), 10, "the dump smtp-sink")
        if self.proc.poll() is not None:
            raise RuntimeError("smtp-sink did not start: %s" % self.proc.stderr.read())

    def messages(self):
        """[(sender, [recipients], message bytes)] of every dumped message."""
        found = []
        for name in sorted(os.listdir(self.directory)):
            with open(os.path.join(self.directory, name), "rb") as handle:
                data = handle.read()
            head, _sep, rest = data.partition(b"Received: from")
            sender, recipients = None, []
            for line in head.decode("utf-8", "replace").splitlines():
                if line.startswith("X-Mail-Args: "):
                    sender = line.split()[1].strip("<>")
                elif line.startswith("X-Rcpt-Args: "):
                    recipients.append(line.split()[1].strip("<>"))
            found.append((sender, recipients, b"Received: from" + rest))
        return found

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()   # our own child, by its PID
            self.proc.wait()
