"""Certificates and keys for the local control plane, made with `cryptography`.

One CA signs the API server's serving certificate and the admin client certificate
(``O=system:masters``: RBAC lets that group do anything). The service-account key pair
signs and verifies the tokens the controller manager's controllers use. Existing files are
reused while they are valid, so a restart keeps every kubeconfig that was handed out.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The first address of the service CIDR the API server is started with: in-cluster
# clients reach "kubernetes.default" there, so the serving certificate must name it.
SERVICE_CIDR = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVING_IPS = ("127.0.0.1", KUBERNETES_SERVICE_IP)
ADMIN_USER = "kovirt-admin"
ADMIN_GROUP = "system:masters"

_CA_DAYS = 3650
_LEAF_DAYS = 365
# Renew a leaf this long before it expires, so a running plane never hits the edge.
_RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True)
class CertFiles:
    """The PEM files of one control plane, all in one folder."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.folder / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.folder / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.folder / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.folder / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.folder / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.folder / "sa.pub"


def ensure_certs(folder: Path, extra_ips: tuple[str, ...] = ()) -> CertFiles:
    """Create whatever is missing or expiring; keep what is still good."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    files = CertFiles(folder)
    ca_renewed = not _cert_is_current(files.ca_cert, files.ca_key)
    if ca_renewed:
        _write_ca(files)
    ca_cert, ca_key = _load_cert(files.ca_cert), _load_key(files.ca_key)
    ips = tuple(dict.fromkeys((*SERVING_IPS, *extra_ips)))
    if ca_renewed or not _serving_cert_is_current(files, ca_cert, ips):
        key = _new_leaf_key()
        cert = _sign_leaf(
            ca_cert,
            ca_key,
            key,
            subject=_name("kube-apiserver"),
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            sans=_serving_sans(ips),
        )
        _write_pair(files.serving_cert, files.serving_key, cert, key)
    if ca_renewed or not _cert_is_current(files.admin_cert, files.admin_key):
        key = _new_leaf_key()
        cert = _sign_leaf(
            ca_cert,
            ca_key,
            key,
            subject=_name(ADMIN_USER, organization=ADMIN_GROUP),
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
            sans=None,
        )
        _write_pair(files.admin_cert, files.admin_key, cert, key)
    if not (files.service_account_key.exists() and files.service_account_pub.exists()):
        _write_service_account_keys(files)
    return files


def _write_ca(files: CertFiles) -> None:
    key = _new_leaf_key()
    subject = _name("kovirt-local-ca")
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_pair(files.ca_cert, files.ca_key, cert, key)


def _sign_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    *,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: x509.SubjectAlternativeName | None,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans is not None:
        builder = builder.add_extension(sans, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _serving_sans(ips: tuple[str, ...]) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [x509.DNSName(name) for name in SERVING_DNS_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    )


def _write_service_account_keys(files: CertFiles) -> None:
    # RSA, not EC: every service-account token verifier (in and out of Kubernetes)
    # accepts RS256, the issuer's default algorithm.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_private(files.service_account_key, key)
    files.service_account_pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _new_leaf_key() -> ec.EllipticCurvePrivateKey:
    # P-256 rather than RSA for TLS: generation takes microseconds instead of a noticeable
    # fraction of a second, and Go, OpenSSL and Python all accept it.
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate, key) -> None:
    _write_private(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_private(path: Path, key) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _cert_is_current(cert_path: Path, key_path: Path) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = _load_cert(cert_path)
    except ValueError:
        return False
    return cert.not_valid_after_utc - _RENEW_BEFORE > _now()


def _serving_cert_is_current(files: CertFiles, ca_cert: x509.Certificate, ips) -> bool:
    if not _cert_is_current(files.serving_cert, files.serving_key):
        return False
    cert = _load_cert(files.serving_cert)
    if cert.issuer != ca_cert.subject:
        return False
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return set(ips) <= have


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
