"""Fixtures for end-to-end tests: a real `cove serve` process on a fresh data directory.

The binary comes from COVE_BIN, or target/debug/cove as built by scripts/test.sh.
"""

import os
import pathlib
import re
import subprocess
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ACCESS_KEY_ID = "AKIACOVEE2ETEST00001"
SECRET_ACCESS_KEY = "cove/e2e/secret/0123456789abcdefghijklmn"
REGION = "us-east-2"


class Cove:
    def __init__(self, data_dir, extra_args=()):
        binary = os.environ.get("COVE_BIN", str(ROOT / "target" / "debug" / "cove"))
        env = dict(os.environ)
        env.update(
            COVE_ROOT_ACCESS_KEY_ID=ACCESS_KEY_ID,
            COVE_ROOT_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            RUST_LOG="info",
            NO_COLOR="1",
        )
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *extra_args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log = []
        ready = threading.Event()
        self.endpoint = None

        def pump():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"cove listening on (http://\S+)", line)
                if m and not ready.is_set():
                    self.endpoint = m.group(1)
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(20):
            self.proc.kill()
            raise RuntimeError("cove did not start:\n" + "".join(self.log))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)


@pytest.fixture
def cove(tmp_path):
    server = Cove(tmp_path / "data")
    yield server
    server.stop()


@pytest.fixture
def aws_env(cove, tmp_path):
    """Environment for the AWS CLI: the test credentials, and no user profile leaking in."""
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_PAGER="",
    )
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return env
