# Stand-in for ansible-test's get-pip.py bootstrap script, which this network cannot download.
# ansible-test runs it in a new venv without pip; it installs pip from a wheel that
# scripts/setup.sh fetched from PyPI into WHEELS, passing pip's own options through.
import glob
import os
import subprocess
import sys

WHEELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pip-wheels")
VERSION = os.path.basename(__file__)[len("get_pip_"):-len(".py")].replace("_", ".")


def main():
    wheels = glob.glob(os.path.join(WHEELS, "pip-%s-*.whl" % VERSION))
    if not wheels:
        sys.exit("no pip %s wheel in %s: run scripts/setup.sh" % (VERSION, WHEELS))
    # get-pip.py's own flags mean nothing to pip install
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    command = [sys.executable, os.path.join(wheels[0], "pip"), "install", "--find-links", WHEELS] + args
    sys.exit(subprocess.call(command))


if __name__ == "__main__":
    main()
