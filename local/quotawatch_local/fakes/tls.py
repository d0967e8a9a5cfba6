"""A test certificate authority for the fake providers, made once per process.

Real providers answer over https, so the fakes do too: TLS handshakes and certificate
checks are then part of every test and benchmark figure. The CA signs one leaf
certificate for 127.0.0.1, ::1 and localhost. Its certificate is written to a PEM file,
the bundle that the local platform hands to the function as QUOTAWATCH_CA_BUNDLE (trusted
in addition to certifi's CAs). Nothing here is a secret: the keys live in a temporary
folder removed when the process exits.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_BUNDLE_VARIABLE = "QUOTAWATCH_CA_BUNDLE"


@dataclass(frozen=True)
class LocalCa:
    folder: Path
    ca_pem: Path  # the CA certificate alone: what a client trusts
    chain_pem: Path  # the leaf certificate, then the CA's
    key_pem: Path  # the leaf's private key


@functools.cache
def local_ca() -> LocalCa:
    """The process's test CA and its leaf, written to a temporary folder (made on first use)."""
    now = datetime.now(UTC)
    valid = (now - timedelta(hours=1), now + timedelta(days=2))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "QuotaWatch local test CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(*_usage(cert_sign=True)), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.DNSName("localhost"),
    ]
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    leaf_cert = (
        _builder(leaf_name, ca_name, leaf_key.public_key(), valid)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(*_usage(digital_signature=True)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="quotawatch-test-ca-"))
    atexit.register(shutil.rmtree, folder, True)
    pem = serialization.Encoding.PEM
    ca = LocalCa(folder, folder / "ca.pem", folder / "chain.pem", folder / "key.pem")
    ca.ca_pem.write_bytes(ca_cert.public_bytes(pem))
    ca.chain_pem.write_bytes(leaf_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    ca.key_pem.write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca


def ca_bundle() -> str:
    """The path of the PEM file a client trusts to reach the fakes."""
    return str(local_ca().ca_pem)


@functools.cache
def server_context() -> ssl.SSLContext:
    """One server context for every fake in this process: loading a chain costs CPU too."""
    ca = local_ca()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(ca.chain_pem, ca.key_pem)
    return context


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, valid: tuple[datetime, datetime]
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
    )


def _usage(*, cert_sign: bool = False, digital_signature: bool = False) -> tuple[bool, ...]:
    """KeyUsage's nine flags in its order: digital_signature, ..., key_cert_sign, crl_sign, ..."""
    return (digital_signature, False, False, False, False, cert_sign, cert_sign, False, False)
