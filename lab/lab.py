# -*- coding: utf-8 -*-
# Copyright (c) mailops.postfix contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet lab: N isolated Postfix hosts on this Linux machine, reachable over SSH.

A host is a network namespace (veth to a bridge) plus its own mount, UTS and PID namespaces. Its
PID 1 is this script (`_init`): it bind-mounts the host's own directories over the Postfix paths,
/var/log, /var/mail, /var/backups and /root, mounts a tmpfs on /run, then runs sshd, Postfix and a delivery sink
(smtp-sink writing one file per message into /var/mail/delivered) and reaps children until told to
stop. Postfix relays everything to [127.0.0.1]:10025, where nothing listens: mail stays deferred
until someone points relayhost at the sink ([127.0.0.1]:10026).

    lab.py up --hosts 3 [--layout mixed|plain]   bring up (tears down leftovers first; idempotent)
    lab.py down                tear down
    lab.py status              one line per host
    lab.py exec HOST -- CMD    run CMD inside HOST (all its namespaces)

Hosts are not all alike (--layout mixed, the default), as in a real fleet: h02 has its Postfix
relocated (the tools only in /opt/postfix/sbin, not on PATH), h03 uses long queue IDs, h05 runs a
second Postfix instance (postmulti-style, /etc/postfix-lab-b, SMTP on port 2525); the others are
stock. Every instance is a *target* (an inventory entry: h05 and h05b for the two instances of h05)
with its own delivery sink. Every instance holds mail whose Subject has [QUARANTINE] (the admin's own
header_checks): the earlier hold that the runbook must leave alone.

Safety: a blackhole route for the lab subnet exists before any host is created, so nothing aimed at
the lab can leave the machine if the bridge is gone; hosts have no default route.
Everything is root-only and machine-wide (names, bridge, subnet): one lab at a time.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

STATE = os.environ.get("MAILOPS_LAB_DIR", "/var/lib/mailops-lab")
SUBNET_PREFIX = "10.231.57."
SUBNET = SUBNET_PREFIX + "0/24"
BRIDGE = "mlab0"
BRIDGE_IP = SUBNET_PREFIX + "1"
BLACKHOLE_METRIC = "4242"
NETNS_PREFIX = "mlab-"
DOMAIN = "lab.mailops.test"
SINK_PORT = 10026
DEAD_RELAY_PORT = 10025
# Paths a host mounts over with its own directory: the lab's state must live elsewhere.
HOST_MOUNTS = ("/etc/postfix", "/var/spool/postfix", "/var/lib/postfix", "/var/log", "/var/mail", "/root",
               "/var/backups", "/var/lib/mailops-postfix")
# The host's own directories under hosts/<name>/, in HOST_MOUNTS order (the last: the runbook's ledgers).
HOST_DIRS = ("etc-postfix", "spool", "lib-postfix", "log", "mail", "root", "backups", "state")
# HOST_MOUNTS the machine may not have: created as empty mountpoints, removed again by down if still empty.
OWN_MOUNTPOINTS = ("/var/lib/mailops-postfix",)
SINK_DIR = "/var/mail/delivered"
# Variants: a relocated Postfix (its own mountpoint), a second instance (three mountpoints). The
# mountpoints are empty directories on the machine; each host mounts its own directory over them.
RELOCATED_BIN = "/opt/postfix/sbin"
RELOCATED_MOUNT = ("/opt/postfix", "opt-postfix")
SECOND = {"name": "postfix-lab-b", "config_dir": "/etc/postfix-lab-b", "queue_dir": "/var/spool/postfix-lab-b",
          "data_dir": "/var/lib/postfix-lab-b", "smtp_port": 2525, "sink_port": 10028,
          "sink_dir": "/var/mail/delivered-b"}
SECOND_MOUNTS = ((SECOND["config_dir"], "etc-postfix-b"), (SECOND["queue_dir"], "spool-b"),
                 (SECOND["data_dir"], "lib-postfix-b"))
# The Postfix commands of /usr/sbin (what a relocated host has only in RELOCATED_BIN).
POSTFIX_TOOLS = ("postalias", "postcat", "postconf", "postdrop", "postfix", "postkick", "postlock", "postlog",
                 "postmap", "postmulti", "postqueue", "postsuper", "sendmail", "qmqp-sink", "qmqp-source",
                 "qshape", "smtp-sink", "smtp-source")
SETGID_POSTDROP = ("postdrop", "postqueue")
# The lab's own content policy, in every instance: Subject [QUARANTINE] is held (the earlier hold).
QUARANTINE_TABLE = "lab_quarantine.regexp"
QUARANTINE_RULE = "/^Subject:.*\\[QUARANTINE\\]/ HOLD quarantined by the lab's own content policy\n"
# Local users of every host: a compromised account that submits junk with sendmail, and a legitimate one.
LOCAL_USERS = ("mlab-spam", "mlab-user")
LAYOUTS = ("mixed", "plain")
PRISTINE = "/usr/share/postfix"
SELF = os.path.abspath(__file__)
# The host's PID 1 runs on the system Python: pyenv's lives under /root, which the host mounts over.
HOST_PYTHON = "/usr/bin/python3"


class LabError(Exception):
    pass


def run(argv, check=True, **kwargs):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, check=False, **kwargs)
    if check and result.returncode != 0:
        raise LabError("%s failed (rc=%d): %s" % (" ".join(argv), result.returncode,
                                                  (result.stderr or result.stdout).strip()))
    return result


def host_names(count):
    return ["h%02d" % number for number in range(1, count + 1)]


def variant_of(name, layout="mixed"):
    """plain, relocated, longids or two-instances: what kind of Postfix host NAME is."""
    if layout == "plain":
        return "plain"
    return {"h02": "relocated", "h03": "longids", "h05": "two-instances"}.get(name, "plain")


def targets_of(name, variant):
    """The Postfix instances of host NAME, one per inventory entry (a target)."""
    first = {"target": name, "host": name, "instance": "postfix", "config_dir": "/etc/postfix",
             "queue_dir": "/var/spool/postfix", "bin_dir": RELOCATED_BIN if variant == "relocated" else "/usr/sbin",
             "smtp_port": 25, "sink_port": SINK_PORT, "sink_dir": SINK_DIR, "etc": "etc-postfix", "spool": "spool",
             "log": "postfix.log"}
    targets = [first]
    if variant == "two-instances":
        targets.append(dict(first, target=name + "b", instance=SECOND["name"], config_dir=SECOND["config_dir"],
                            queue_dir=SECOND["queue_dir"], smtp_port=SECOND["smtp_port"],
                            sink_port=SECOND["sink_port"], sink_dir=SECOND["sink_dir"], etc="etc-postfix-b",
                            spool="spool-b", log="postfix-b.log"))
    return targets


def host_ip(name):
    return SUBNET_PREFIX + str(10 + int(name[1:]))


def host_dir(name):
    return os.path.join(STATE, "hosts", name)


def target(name):
    """The target (one Postfix instance) called NAME, from the lab's state."""
    for record in load_state()["hosts"].values():
        for entry in record.get("targets", []):
            if entry["target"] == name:
                return entry
    raise LabError("no lab target %s (is the lab up?)" % name)


def targets():
    """Every target of the lab, in name order."""
    found = [entry for record in load_state()["hosts"].values() for entry in record.get("targets", [])]
    return sorted(found, key=lambda entry: entry["target"])


def target_path(name, what):
    """A target's own directory on the machine: etc, spool, sink (deliveries), log (its maillog file)."""
    entry = target(name)
    base = host_dir(entry["host"])
    if what == "sink":
        return os.path.join(base, "mail", os.path.basename(entry["sink_dir"]))
    if what == "log":
        return os.path.join(base, "log", entry["log"])
    return os.path.join(base, entry[what])


def tool(name, command):
    """argv prefix running a Postfix command of target NAME inside its host (its tool path and -c DIR)."""
    entry = target(name)
    argv = enter(entry["host"]) + [os.path.join(entry["bin_dir"], command)]
    if entry["config_dir"] != "/etc/postfix":
        argv += ["-C" if command == "sendmail" else "-c", entry["config_dir"]]
    return argv


def load_state():
    try:
        with open(os.path.join(STATE, "lab.json")) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return {"hosts": {}}


def save_state(state):
    path = os.path.join(STATE, "lab.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
    os.rename(path + ".tmp", path)


# --- process identity -------------------------------------------------------------------------

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().split(b"\0")
    except (IOError, OSError):
        return []


def is_host_init(pid, name):
    """True when PID really is NAME's PID 1 (a recorded PID may have been reused since)."""
    args = cmdline(pid)
    return SELF.encode() in args and b"_init" in args and name.encode() in args


def init_pid_of(launcher_pid, name):
    """The host's PID 1 as the root namespace sees it: unshare's only child."""
    try:
        with open("/proc/%d/task/%d/children" % (launcher_pid, launcher_pid)) as handle:
            children = [int(pid) for pid in handle.read().split()]
    except (IOError, OSError):
        return None
    for pid in children:
        if is_host_init(pid, name):
            return pid
    return None


def host_pid(name):
    """The running PID 1 of host NAME, or None."""
    record = load_state()["hosts"].get(name)
    if record and record.get("pid") and is_host_init(record["pid"], name):
        return record["pid"]
    return None


# --- network ----------------------------------------------------------------------------------

def ensure_blackhole():
    """The blackhole route comes first: nothing for the lab subnet may ever leave the machine."""
    routes = run(["ip", "-4", "route", "show", "type", "blackhole", SUBNET]).stdout
    if SUBNET.split("/", 1)[0] not in routes:
        run(["ip", "-4", "route", "add", "blackhole", SUBNET, "metric", BLACKHOLE_METRIC])
    if SUBNET.split("/", 1)[0] not in run(["ip", "-4", "route", "show", "type", "blackhole", SUBNET]).stdout:
        raise LabError("the blackhole route for %s is missing: refusing to create hosts" % SUBNET)


def ensure_bridge():
    if run(["ip", "link", "show", BRIDGE], check=False).returncode != 0:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    addresses = run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE]).stdout
    if BRIDGE_IP + "/24" not in addresses:
        run(["ip", "addr", "add", BRIDGE_IP + "/24", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def create_netns(name):
    netns, veth = NETNS_PREFIX + name, "mlv" + name[1:]
    run(["ip", "netns", "add", netns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    inside = ["ip", "netns", "exec", netns]
    run(inside + ["ip", "addr", "add", host_ip(name) + "/24", "dev", "eth0"])
    run(inside + ["ip", "link", "set", "eth0", "up"])
    run(inside + ["ip", "link", "set", "lo", "up"])


# --- per-host files ---------------------------------------------------------------------------

def postconf(config_dir, *settings):
    run(["postconf", "-c", config_dir, "-e"] + list(settings))


def _postfix_files(etc):
    """An instance's configuration from the package's pristine files, never from this machine's live config."""
    shutil.copy(os.path.join(PRISTINE, "main.cf.debian"), os.path.join(etc, "main.cf"))
    shutil.copy(os.path.join(PRISTINE, "master.cf.dist"), os.path.join(etc, "master.cf"))
    shutil.copy(os.path.join(PRISTINE, "dynamicmaps.cf"), os.path.join(etc, "dynamicmaps.cf"))
    for owned in ("postfix-files", "postfix-script", "post-install"):
        shutil.copy2(os.path.join("/etc/postfix", owned), os.path.join(etc, owned))
    for owned in ("postfix-files.d", "dynamicmaps.cf.d", "sasl"):
        os.makedirs(os.path.join(etc, owned))
    with open(os.path.join(etc, QUARANTINE_TABLE), "w") as handle:
        handle.write(QUARANTINE_RULE)


def _common_settings(name, entry):
    return ["myhostname=%s.%s" % (entry["target"], DOMAIN), "mydomain=%s" % DOMAIN, "myorigin=$myhostname",
            "mydestination=localhost", "relayhost=[127.0.0.1]:%d" % DEAD_RELAY_PORT,
            "mynetworks=127.0.0.0/8 %s" % SUBNET, "inet_interfaces=all", "inet_protocols=ipv4",
            "alias_maps=", "alias_database=", "maillog_file=/var/log/%s" % entry["log"],
            "compatibility_level=3.6", "smtpd_banner=$myhostname ESMTP lab",
            "smtp_connect_timeout=5s", "smtpd_tls_security_level=none", "smtp_tls_security_level=none",
            "smtpd_tls_cert_file=", "smtpd_tls_key_file=",
            "header_checks=regexp:%s/%s" % (entry["config_dir"], QUARANTINE_TABLE),
            # the lab's generator plays a submission front end (a webmail, a proxy) that authenticates users and
            # passes their login on with XCLIENT LOGIN: Postfix records it as sasl_username, as for SMTP AUTH
            "smtpd_authorized_xclient_hosts=%s 127.0.0.1" % BRIDGE_IP,
            # so that an XCLIENT login is an authenticated client (permit_sasl_authenticated) on Postfix 3.7.11;
            # no SMTP AUTH mechanism works (no SASL database): only the front end's XCLIENT authenticates
            "smtpd_sasl_auth_enable=yes"]


def _relocate_tools(opt):
    """The Postfix commands copied to <opt>/sbin with their modes (postdrop, postqueue: setgid postdrop)."""
    sbin = os.path.join(opt, "sbin")
    os.makedirs(sbin)
    for command in POSTFIX_TOOLS:
        source = os.path.join("/usr/sbin", command)
        if os.path.exists(source):
            shutil.copy2(source, os.path.join(sbin, command))
    for command in SETGID_POSTDROP:
        path = os.path.join(sbin, command)
        shutil.chown(path, "root", "postdrop")
        os.chmod(path, 0o2555)
    for alias in ("mailq", "newaliases"):
        os.symlink("sendmail", os.path.join(sbin, alias))


def write_host_files(name, variant):
    base = host_dir(name)
    dirs = list(HOST_DIRS)
    if variant == "relocated":
        dirs.append(RELOCATED_MOUNT[1])
    if variant == "two-instances":
        dirs.extend(sub for _mount, sub in SECOND_MOUNTS)
    for sub in set(dirs) | set(HOST_DIRS + (RELOCATED_MOUNT[1],) + tuple(sub for _m, sub in SECOND_MOUNTS)):
        path = os.path.join(base, sub)
        if os.path.isdir(path):
            shutil.rmtree(path)
    for sub in dirs:
        os.makedirs(os.path.join(base, sub))
    os.chmod(os.path.join(base, "root"), 0o700)
    for lib in ("lib-postfix", "lib-postfix-b"):
        if lib in dirs:
            shutil.chown(os.path.join(base, lib), "postfix", "postfix")
    shutil.chown(os.path.join(base, "mail"), "root", "mail")
    os.chmod(os.path.join(base, "mail"), 0o2775)
    first, *others = targets_of(name, variant)
    etc = os.path.join(base, "etc-postfix")
    _postfix_files(etc)
    settings = _common_settings(name, first)
    if variant == "relocated":
        _relocate_tools(os.path.join(base, RELOCATED_MOUNT[1]))
        settings += ["command_directory=%s" % RELOCATED_BIN, "sendmail_path=%s/sendmail" % RELOCATED_BIN,
                     "mailq_path=%s/mailq" % RELOCATED_BIN, "newaliases_path=%s/newaliases" % RELOCATED_BIN]
    if variant == "longids":
        settings.append("enable_long_queue_ids=yes")
    if others:      # as postmulti -e init leaves it: a plain `postfix reload` reloads every instance
        settings += ["multi_instance_enable=yes", "multi_instance_directories=%s" % SECOND["config_dir"],
                     "multi_instance_wrapper=${command_directory}/postmulti -p --"]
    postconf(etc, *settings)
    # No chroot: a chrooted smtp would need copies of /etc files under the spool.
    run(["postconf", "-c", etc, "-F", "*/*/chroot = n"])
    for entry in others:            # the second instance: its own config, spool and data, SMTP on its own port
        etc_b = os.path.join(base, entry["etc"])
        _postfix_files(etc_b)
        postconf(etc_b, *(_common_settings(name, entry) + [
            "queue_directory=%s" % entry["queue_dir"], "data_directory=%s" % SECOND["data_dir"],
            "multi_instance_name=%s" % entry["instance"], "multi_instance_enable=yes"]))
        run(["postconf", "-c", etc_b, "-F", "*/*/chroot = n"])
        run(["postconf", "-c", etc_b, "-M#", "smtp/inet"])
        run(["postconf", "-c", etc_b, "-M", "%d/inet = %d inet n - n - - smtpd" % (entry["smtp_port"], entry["smtp_port"])])
    # sshd: key login for root only; host keys stay the same across bring-ups.
    keys = os.path.join(STATE, "keys", name)
    if not os.path.exists(os.path.join(keys, "ssh_host_ed25519_key")):
        os.makedirs(keys, mode=0o700, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", os.path.join(keys, "ssh_host_ed25519_key")])
    ssh_dir = os.path.join(base, "root", ".ssh")
    os.makedirs(ssh_dir, mode=0o700)
    shutil.copy(os.path.join(STATE, "id_ed25519.pub"), os.path.join(ssh_dir, "authorized_keys"))
    with open(os.path.join(base, "sshd_config"), "w") as handle:
        handle.write("\n".join([
            "ListenAddress %s:22" % host_ip(name),
            "HostKey %s" % os.path.join(keys, "ssh_host_ed25519_key"),
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "AuthorizedKeysFile /root/.ssh/authorized_keys", "PidFile /run/sshd.pid",
            "MaxStartups 200:30:400", "MaxSessions 100", "LogLevel VERBOSE",
            "Subsystem sftp /usr/lib/openssh/sftp-server", "AcceptEnv LANG LC_*", ""]))
    return [first] + others


def controller_key():
    key = os.path.join(STATE, "id_ed25519")
    if not os.path.exists(key):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailops-lab", "-f", key])
    return key


def write_inventory(all_targets):
    key = controller_key()
    lines = [
        "# Written by lab/lab.py up: the lab's Postfix instances, one entry each. Works with -c ssh and -c paramiko.",
        "all:", "  children:", "    mailhosts:", "      hosts:"]
    for entry in all_targets:
        lines += ["        %s:" % entry["target"], "          ansible_host: %s" % host_ip(entry["host"])]
        instance = {}
        if entry["bin_dir"] != "/usr/sbin":
            instance["postfix_bin_dir"] = entry["bin_dir"]
        if entry["config_dir"] != "/etc/postfix":
            instance["config_dir"] = entry["config_dir"]
        if instance:
            lines.append("          mailops_instance: %s" % json.dumps(instance, sort_keys=True))
        if entry["sink_dir"] != SINK_DIR:
            lines.append("          verify_delivered_dir: %s" % entry["sink_dir"])
        if entry["sink_port"] != SINK_PORT:
            lines.append("          mailops_lab_sink_relay: '[127.0.0.1]:%d'" % entry["sink_port"])
    lines += [
        "      vars:",
        "        ansible_user: root",
        "        ansible_ssh_private_key_file: %s" % key,
        "        ansible_python_interpreter: /usr/bin/python3",
        "        # One ssh run per module instead of three: half the controller's CPU per task (docs/performance.md).",
        "        ansible_pipelining: true",
        "        ansible_host_key_checking: false",
        "        ansible_ssh_common_args: -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR",
        "        ansible_paramiko_host_key_checking: false",
        "        ansible_paramiko_record_host_keys: false",
        "        # The lab's delivery sink: one file per delivered message (verify counts them).",
        "        verify_delivered_dir: %s" % SINK_DIR,
        "        # What 'fix' means in the lab: the upstream relay is back (the sink).",
        "        mailops_lab_sink_relay: '[127.0.0.1]:%d'" % SINK_PORT,
        "        # The local account that sends junk with sendmail (the lab's fix stops it submitting).",
        "        mailops_lab_spam_user: %s" % LOCAL_USERS[0],
        ""]
    path = os.path.join(STATE, "inventory.yml")
    with open(path, "w") as handle:
        handle.write("\n".join(lines))
    return path


# --- bring-up and tear-down -------------------------------------------------------------------

def wait_for_port(name, address, port, deadline):
    while True:
        if not host_pid(name):
            raise LabError("host %s died: see %s" % (name, os.path.join(host_dir(name), "console.log")))
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise LabError("%s:%d does not answer" % (address, port))
            time.sleep(0.05)


def start_host(name, variant):
    log = open(os.path.join(host_dir(name), "console.log"), "wb")
    launcher = subprocess.Popen(
        ["ip", "netns", "exec", NETNS_PREFIX + name, "unshare", "--mount", "--uts", "--pid", "--fork",
         "--mount-proc", "--kill-child", HOST_PYTHON, SELF, "_init", STATE, name, variant],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True)
    log.close()
    deadline = time.time() + 10
    while True:
        pid = init_pid_of(launcher.pid, name)
        if pid:
            return launcher.pid, pid
        if launcher.poll() is not None or time.time() > deadline:
            raise LabError("host %s did not start: see %s" % (name, os.path.join(host_dir(name), "console.log")))
        time.sleep(0.02)


def mountpoints(variant):
    """The machine's empty directories a variant's host mounts its own over."""
    if variant == "relocated":
        return [RELOCATED_MOUNT[0]]
    if variant == "two-instances":
        return [mount for mount, _sub in SECOND_MOUNTS]
    return []


def local_uid(user):
    """The uid of one of the lab's local users (LOCAL_USERS), made by bring-up."""
    import pwd
    return pwd.getpwnam(user).pw_uid


def ensure_local_users():
    for user in LOCAL_USERS:
        if run(["id", "-u", user], check=False).returncode != 0:
            run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user])


def up(count, layout="mixed"):
    if os.geteuid() != 0:
        raise LabError("the lab needs root (namespaces, routes)")
    for mount in HOST_MOUNTS:
        if os.path.abspath(STATE) == mount or os.path.abspath(STATE).startswith(mount + "/"):
            raise LabError("MAILOPS_LAB_DIR %s is under %s, which every host mounts over" % (STATE, mount))
    down(quiet=True)
    ensure_blackhole()
    ensure_bridge()
    ensure_local_users()
    os.makedirs(os.path.join(STATE, "hosts"), exist_ok=True)
    # A fresh lab has had no incident yet: an earlier ground truth would describe other queues.
    shutil.rmtree(os.path.join(STATE, "truth"), ignore_errors=True)
    controller_key()
    names = host_names(count)
    state = {"hosts": {}, "subnet": SUBNET, "bridge": BRIDGE, "layout": layout}
    started = time.time()
    for mount in OWN_MOUNTPOINTS:
        os.makedirs(mount, exist_ok=True)
    for name in names:
        variant = variant_of(name, layout)
        for mount in mountpoints(variant):
            os.makedirs(mount, exist_ok=True)
        host_targets = write_host_files(name, variant)
        create_netns(name)
        launcher, pid = start_host(name, variant)
        state["hosts"][name] = {"ip": host_ip(name), "pid": pid, "launcher": launcher, "variant": variant,
                                "targets": host_targets}
        save_state(state)
    deadline = time.time() + 60
    for name in names:
        for entry in state["hosts"][name]["targets"]:
            for port in (22, entry["smtp_port"]):
                wait_for_port(name, host_ip(name), port, deadline)
            wait_for_port_inside(name, entry["sink_port"], deadline)
    all_targets = [entry for name in names for entry in state["hosts"][name]["targets"]]
    inventory = write_inventory(all_targets)
    print("lab: %d hosts (%d Postfix instances) up in %.1f s; inventory %s"
          % (count, len(all_targets), time.time() - started, inventory))


def wait_for_port_inside(name, port, deadline):
    while run(enter(name) + ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', %d), 1)" % port],
              check=False).returncode != 0:
        if time.time() > deadline:
            raise LabError("%s: nothing listens on 127.0.0.1:%d" % (name, port))
        time.sleep(0.05)


def stop_pid(pid, name, timeout=15):
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.time() + timeout
    while is_host_init(pid, name) and time.time() < deadline:
        time.sleep(0.02)
    if is_host_init(pid, name):
        os.kill(pid, signal.SIGKILL)


def down(quiet=False):
    state = load_state()
    for name, record in sorted(state["hosts"].items()):
        pid = record.get("pid")
        if pid and is_host_init(pid, name):
            stop_pid(pid, name)
    # Leftovers from earlier sessions: namespaces and links outlive their processes.
    for line in run(["ip", "netns", "list"]).stdout.splitlines():
        netns = line.split()[0] if line.strip() else ""
        if netns.startswith(NETNS_PREFIX):
            run(["ip", "netns", "del", netns], check=False)
    for line in run(["ip", "-o", "link", "show"]).stdout.splitlines():
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith("mlv"):
            run(["ip", "link", "del", link], check=False)
    if run(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
        run(["ip", "link", "del", BRIDGE])
    for mount in [RELOCATED_MOUNT[0]] + [mount for mount, _sub in SECOND_MOUNTS] + list(OWN_MOUNTPOINTS):
        try:
            os.rmdir(mount)       # only the lab's empty mountpoints; anything with content stays
        except OSError:
            pass
    if os.path.isdir(STATE):
        save_state({"hosts": {}})
    if not quiet:
        print("lab: down (the blackhole route for %s stays)" % SUBNET)


def enter(name):
    """nsenter argv into host NAME (or into the host of target NAME)."""
    if name not in load_state()["hosts"]:
        name = target(name)["host"]
    pid = host_pid(name)
    if not pid:
        raise LabError("host %s is not running" % name)
    return ["nsenter", "-t", str(pid), "-a", "--"]


def listing(name):
    """Target NAME's queue now: postqueue -j run inside its host, one dict per message."""
    output = run(tool(name, "postqueue") + ["-j"]).stdout
    return [json.loads(line) for line in output.splitlines()]


def status():
    state = load_state()
    if not state["hosts"]:
        print("lab: no hosts")
        return 0
    bad = 0
    for name, record in sorted(state["hosts"].items()):
        pid = host_pid(name)
        print("%s %s %s %s (%s)" % (name, record["ip"], "running (pid %d)" % pid if pid else "DOWN",
                                    record.get("variant", "plain"), ", ".join(t["target"] for t in record.get("targets", []))))
        bad += 0 if pid else 1
    return 1 if bad else 0


# --- PID 1 of a host --------------------------------------------------------------------------

class _Stop(Exception):
    """SIGTERM or SIGINT reached the host's PID 1 (os.wait() would otherwise resume after it)."""


def _shadow_sbin():
    """Hide Postfix's commands from /usr/sbin inside this host (a relocated Postfix): the real directory
    stays reachable under /run, and /usr/sbin becomes links to everything in it but Postfix's commands."""
    os.makedirs("/run/lab-real-sbin")
    subprocess.check_call(["mount", "--bind", "/usr/sbin", "/run/lab-real-sbin"])
    os.makedirs("/run/lab-sbin")
    for entry in os.listdir("/run/lab-real-sbin"):
        if entry not in POSTFIX_TOOLS:
            os.symlink(os.path.join("/run/lab-real-sbin", entry), os.path.join("/run/lab-sbin", entry))
    subprocess.check_call(["mount", "--bind", "/run/lab-sbin", "/usr/sbin"])


def host_init(state_dir, name, variant):
    base = os.path.join(state_dir, "hosts", name)
    socket.sethostname(name)
    for source, mount in zip(HOST_DIRS, HOST_MOUNTS):
        subprocess.check_call(["mount", "--bind", os.path.join(base, source), mount])
    for mount, source in [RELOCATED_MOUNT] * (variant == "relocated") + list(SECOND_MOUNTS) * (variant == "two-instances"):
        subprocess.check_call(["mount", "--bind", os.path.join(base, source), mount])
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"])
    os.makedirs("/run/sshd", mode=0o755)
    sshd = os.path.realpath("/usr/sbin/sshd")
    if variant == "relocated":
        _shadow_sbin()
    smtp_sink = os.path.join(RELOCATED_BIN if variant == "relocated" else "/usr/sbin", "smtp-sink")
    children = [subprocess.Popen([sshd, "-D", "-e", "-f", os.path.join(base, "sshd_config")])]
    instances = targets_of(name, variant)
    for entry in instances:
        os.makedirs(entry["sink_dir"])
        shutil.chown(entry["sink_dir"], "postfix", "postfix")
        children.append(subprocess.Popen([smtp_sink, "-u", "postfix", "-d", entry["sink_dir"] + "/%Y%m%d%H%M%S.",
                                          "127.0.0.1:%d" % entry["sink_port"], "100"]))

    def postfix(entry, command):
        return [os.path.join(entry["bin_dir"], "postfix"), "-c", entry["config_dir"], command]

    # `postfix start` creates the missing queue directories (post-install create-missing).
    for entry in instances:
        subprocess.check_call(postfix(entry, "start"))

    def on_term(signum, frame):
        raise _Stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    # With no child left, pause() must still wake for an orphan that exits later, or it stays a zombie
    # (SIGCHLD is ignored by default, which does not interrupt pause()).
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    try:
        while True:
            try:
                os.wait()           # reap every orphan of this host (PID 1's duty)
            except ChildProcessError:
                signal.pause()
    except _Stop:
        pass
    for entry in instances:
        subprocess.call(postfix(entry, "stop"))
    for child in children:
        if child.poll() is None:
            child.terminate()
    # Leaving PID 1 ends every process of this host (the kernel kills the namespace).
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command")
    command_up = commands.add_parser("up", help="bring up N hosts (tears down leftovers first)")
    command_up.add_argument("--hosts", type=int, default=3)
    command_up.add_argument("--layout", choices=LAYOUTS, default="mixed",
                            help="mixed (default): some hosts relocated, with long IDs, with two instances; plain: all stock")
    commands.add_parser("down", help="tear the lab down")
    commands.add_parser("status", help="one line per host")
    command_exec = commands.add_parser("exec", help="run a command inside a host")
    command_exec.add_argument("host")
    command_exec.add_argument("argv", nargs=argparse.REMAINDER)
    command_init = commands.add_parser("_init")
    command_init.add_argument("state_dir")
    command_init.add_argument("name")
    command_init.add_argument("variant")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            if not 1 <= args.hosts <= 200:
                raise LabError("--hosts must be between 1 and 200")
            up(args.hosts, args.layout)
        elif args.command == "down":
            down()
        elif args.command == "status":
            return status()
        elif args.command == "exec":
            argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            return subprocess.call(enter(args.host) + argv)
        elif args.command == "_init":
            return host_init(args.state_dir, args.name, args.variant)
        else:
            parser.print_help()
            return 2
    except LabError as error:
        print("lab: error: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
