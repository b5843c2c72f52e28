"""Strato's processes reach a Temporal behind mutual TLS (README, "Security model"): a
TLS-terminating proxy that demands a client certificate from our CA stands in front of
the test server (as Envoy or nginx would in production). With the STRATO_TEMPORAL_TLS_*
settings the client gets through; without a client certificate, or in plain text, not."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from strato.settings import Settings
from strato.temporal import connect_to, retention
from tests.conftest import TemporalServer

SERVER_NAME = "temporal.strato.test"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _pki(d: Path) -> Path:
    """A CA, a server certificate for SERVER_NAME and a client certificate, signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=strato-test-ca", cwd=d)  # fmt: skip
    for name, ext in (
        ("server", f"subjectAltName=DNS:{SERVER_NAME}\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=strato-{name}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                 "-extfile", f"{name}.ext", cwd=d)  # fmt: skip
    return d


@contextlib.asynccontextmanager
async def mtls_proxy(pki: Path, upstream: str) -> AsyncIterator[int]:
    """TLS in front of ``upstream`` (host:port), client certificates from our CA required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    ctx.load_verify_locations(pki / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["h2"])
    host, port = upstream.rsplit(":", 1)

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(r, uw), pipe(ur, w), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_temporal_behind_mutual_tls(
    temporal_server: TemporalServer, tmp_path: Path
) -> None:
    pki = await asyncio.to_thread(_pki, tmp_path)
    async with mtls_proxy(pki, temporal_server.address) as port:
        base = {"temporal_address": f"127.0.0.1:{port}", "data_dir": tmp_path / "data"}
        settings = Settings(
            **base,
            temporal_tls_ca=pki / "ca.pem",
            temporal_tls_cert=pki / "client.pem",
            temporal_tls_key=pki / "client.key",
            temporal_tls_server_name=SERVER_NAME,
        )
        client = await connect_to(settings)
        assert await retention(client) >= timedelta(days=1)  # a real RPC, through the proxy

        no_cert = Settings(
            **base, temporal_tls_ca=pki / "ca.pem", temporal_tls_server_name=SERVER_NAME
        )
        with pytest.raises(RuntimeError):
            await connect_to(no_cert)
        with pytest.raises(RuntimeError):
            await connect_to(Settings(**base))  # plain text to a TLS port


def test_a_client_certificate_needs_its_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="go together"):
        Settings(temporal_tls_cert=tmp_path / "c.pem")
    assert Settings().temporal_tls_config() is False
    assert Settings(temporal_tls=True).temporal_tls_config() is not False
