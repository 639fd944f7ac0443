#!/usr/bin/env bash
# Copy the working tree to $MAILOPS_BUILD/ansible_collections/mailops/postfix (default .build): ansible-test and
# the integration tests need the collection at a real ansible_collections/NAMESPACE/NAME path.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${MAILOPS_BUILD:-.build}/ansible_collections/mailops/postfix
rm -rf "$dest"
mkdir -p "$dest"
tar --exclude=./.venv --exclude=./.build --exclude=./.git --exclude=./.ansible \
    --exclude='*/__pycache__' --exclude=./tests/output -cf - . | tar -xf - -C "$dest"
echo "$dest"
