"""HTTPS for the emulator: a certificate authority made at start, and a server certificate.

Clients trust the emulator by pointing `SSL_CERT_FILE` / `REQUESTS_CA_BUNDLE` at the CA file
(the emulator prints its path); nothing is installed system-wide.
"""

from __future__ import annotations

import dataclasses
import ssl
from typing import TYPE_CHECKING

import trustme

from powerbi_emulator._cloud import CLOUDS

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["TlsFiles", "make_tls_files"]


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """Where the CA certificate and the server's key and certificate chain were written."""

    ca_file: Path
    server_pem: Path

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the emulator (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_tls_files(folder: Path, host: str) -> TlsFiles:
    """A new CA and a certificate for the loopback names and every cloud's hosts."""
    ca = trustme.CA(organization_name="Power BI emulator")
    names = {host, "127.0.0.1", "::1", "localhost"}
    for cloud in CLOUDS.values():
        names |= cloud.hosts
    server = ca.issue_cert(*sorted(names))
    ca_file = folder / "emulator-ca.pem"
    server_pem = folder / "emulator-server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return TlsFiles(ca_file, server_pem)
