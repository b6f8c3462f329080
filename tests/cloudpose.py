"""Let a local emulator pose as a national cloud's real hosts, for end-to-end tests.

The command under test runs unchanged, with the standard proxy and CA variables set:
``HTTPS_PROXY`` points at :class:`PosingProxy` and ``SSL_CERT_FILE`` at a throwaway CA. The
client opens ``CONNECT api.high.powerbigov.us:443`` as it would through any corporate proxy;
the proxy answers with a certificate for that host signed by the throwaway CA, reads the
requests inside the tunnel, records them (host, method, path, body), and forwards them over
plain HTTP to the emulator with their ``Host`` header intact.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    import socket
    from pathlib import Path

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "proxy-connection",
}


@dataclass(frozen=True)
class Seen:
    """One request the client sent inside a tunnel."""

    host: str
    method: str
    path: str
    body: bytes


def _certificates(hosts: list[str], folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for every host signed by it; returns (ca, cert, key) files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connectorkit test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "host.pem", folder / "host.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


class PosingProxy:
    """A forward proxy that terminates TLS for ``hosts`` and forwards to ``upstream``."""

    def __init__(self, upstream: str, hosts: list[str], folder: Path) -> None:
        self.upstream = upstream.rstrip("/")
        self.seen: list[Seen] = []
        self.refused: list[str] = []  # CONNECT targets that are not posed
        self.ca_file, cert, key = _certificates(hosts, folder)
        self.hosts = set(hosts)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.http = httpx.Client(timeout=30, trust_env=False)
        self._lock = threading.Lock()
        proxy = self

        class Tunnel(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def __init__(self, sock: socket.socket, host: str) -> None:
                self.tunnel_host = host
                super().__init__(sock, ("127.0.0.1", 0), proxy.server)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.seen.append(Seen(self.tunnel_host, self.command, self.path, body))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                answer = proxy.http.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.multi_items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

        class Front(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_CONNECT(self) -> None:
                host = self.path.rsplit(":", 1)[0]
                if host not in proxy.hosts:
                    proxy.refused.append(self.path)
                    self.send_error(502, "not posed here")
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                try:
                    wrapped = proxy.tls.wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    self.close_connection = True
                    return
                try:
                    Tunnel(wrapped, host)
                finally:
                    wrapped.close()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        """The variables that send the command's HTTPS through this proxy and trust its CA."""
        return {
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            "SSL_CERT_FILE": str(self.ca_file),
            "NO_PROXY": "",
            "no_proxy": "",
        }

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()
        self.http.close()
