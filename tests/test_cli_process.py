"""The CLI as a process: --version, Ctrl-C ends in one line."""
import os
import signal
import subprocess
import sys
import time

import hwsim


def test_version():
    r = subprocess.run([sys.executable, "-m", "bitmixer.cli", "--version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"bitmixer {hwsim.__version__}"


def test_ctrl_c_is_one_line(tmp_path):
    # a shell starts background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt handler;
    # the child restores it, as a terminal's foreground process has it
    p = subprocess.Popen([sys.executable, "-c", "import signal, sys, time; from bitmixer import cli; "
                          "signal.signal(signal.SIGINT, signal.default_int_handler); "
                          "from bitmixer.commands import estimate; "
                          "estimate.run = lambda args: (print('ready', flush=True), time.sleep(60), 0)[-1]; "
                          "sys.exit(cli.main(['estimate', 'm.npz', '--hw', 'x.yaml']))"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert err.strip() == "bitmixer estimate: interrupted (Ctrl-C)", err
