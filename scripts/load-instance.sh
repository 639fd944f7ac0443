#!/usr/bin/env bash
# A load beside a test run: a Postfix instance of its own (not the machine's default instance, which the
# integration tests drive, and not the lab's hosts) that takes a large fill over SMTP and keeps retrying it.
#
#   scripts/load-instance.sh up          # /etc/postfix-load, /var/spool/postfix-load, SMTP on 127.0.0.1:2625
#   scripts/load-instance.sh fill 100000 # smtp-source: N messages of ~1 KB in 4 sessions (blocks until sent)
#   scripts/load-instance.sh status      # its queue, by queue
#   scripts/load-instance.sh down        # stop it and remove its directories
#
# Its mail goes to a relay that refuses (127.0.0.1:9), so all of it defers and qmgr keeps retrying. It is not
# listed in the default instance's multi_instance_directories: nothing the tests do to the default instance
# (rewriting main.cf, postmulti) touches it. Used for #23's "CI under load" run (docs/testing.md).
set -euo pipefail
CONF=/etc/postfix-load
QUEUE=/var/spool/postfix-load
DATA=/var/lib/postfix-load
PORT=2625

case "${1:-}" in
  up)
    command -v smtp-source >/dev/null || { apt-get update -qq && apt-get install -y -qq postfix; }
    mkdir -p "$CONF" "$QUEUE" "$DATA"
    cp /usr/share/postfix/main.cf.debian "$CONF/main.cf"
    cp /usr/share/postfix/master.cf.dist "$CONF/master.cf"
    postconf -c "$CONF" -e \
      "queue_directory = $QUEUE" "data_directory = $DATA" "myhostname = load.invalid" "mydestination =" \
      "alias_maps =" "alias_database =" "inet_interfaces = loopback-only" "inet_protocols = ipv4" \
      "relayhost = [127.0.0.1]:9" "maillog_file = /var/log/postfix-load.log" "smtpd_tls_security_level = none" \
      "smtp_tls_security_level = none" "authorized_submit_users = static:anyone" \
      "authorized_mailq_users = static:anyone" "multi_instance_name = postfix-load"
    postconf -c "$CONF" -F "*/*/chroot = n"
    # SMTP on its own port: the default instance owns 127.0.0.1:25
    postconf -c "$CONF" -M# smtp/inet
    postconf -c "$CONF" -M "127.0.0.1:$PORT/inet = 127.0.0.1:$PORT inet n - n - - smtpd"
    touch /var/log/postfix-load.log
    postfix -c "$CONF" set-permissions >/dev/null 2>&1 || true
    postfix -c "$CONF" check
    postfix -c "$CONF" status >/dev/null 2>&1 || postfix -c "$CONF" start
    ;;
  fill)
    smtp-source -s 4 -m "${2:-100000}" -l 1000 -f load@example.org -t someone@example.net -N "127.0.0.1:$PORT"
    ;;
  status)
    postqueue -c "$CONF" -j | python3 -c 'import collections, json, sys; print(dict(collections.Counter(json.loads(l)["queue_name"] for l in sys.stdin)))'
    ;;
  down)
    postfix -c "$CONF" stop 2>/dev/null || true
    rm -rf "$CONF" "$QUEUE" "$DATA"
    ;;
  *)
    sed -n '2,12p' "$0"; exit 2 ;;
esac
