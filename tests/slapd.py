"""The run's private OpenLDAP slapd (see ../shared/notes/services-lab.md), for the ACL
service's LDAP logins: one per test run, on a free port, with a tree each test adds to."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ldap3 import Connection, Server
from ldap3.core.exceptions import LDAPException

from tests.conftest import free_port

SUFFIX = "dc=strato,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "slapd-root-pw"
SLAPD = "/usr/sbin/slapd"

_CONF = """include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {dir}/slapd.pid
database mdb
suffix "{suffix}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {dir}/data
index uid,member eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"""


@dataclass
class Slapd:
    dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        conf = self.dir / "slapd.conf"
        conf.write_text(_CONF.format(dir=self.dir, suffix=SUFFIX, rootdn=ROOT_DN, rootpw=ROOT_PW))
        log = open(self.dir / "slapd.log", "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(conf), "-h", f"{self.url}/", "-d", "0"],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                # A new Server per try: ldap3 remembers a failed address for seconds.
                if Connection(Server(self.url, connect_timeout=1), ROOT_DN, ROOT_PW).bind():
                    return
            except LDAPException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not start: {(self.dir / 'slapd.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def admin(self) -> Connection:
        conn = Connection(Server(self.url, connect_timeout=2), ROOT_DN, ROOT_PW, auto_bind=True)
        return conn

    def add(self, dn: str, classes: list[str], **attrs: object) -> None:
        conn = self.admin()
        try:
            if not conn.add(dn, classes, attrs):
                raise RuntimeError(f"ldap add {dn}: {conn.result}")
        finally:
            conn.unbind()


def available() -> bool:
    return shutil.which(SLAPD) is not None or Path(SLAPD).exists()


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """The run's slapd (skipped where slapd is not installed, unless
    STRATO_REQUIRE_SLAPD=1, as CI sets). Its base: dc=strato,dc=test."""
    if not available():
        if os.environ.get("STRATO_REQUIRE_SLAPD") == "1":
            pytest.fail("slapd is not installed (apt-get install slapd)")
        pytest.skip("slapd is not installed")
    s = Slapd(tmp_path_factory.mktemp("slapd"), free_port())
    s.start()
    try:
        s.add(SUFFIX, ["dcObject", "organization"], dc="strato", o="Strato tests")
        yield s
    finally:
        s.stop()
