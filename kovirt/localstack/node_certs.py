"""Client certificates and kubeconfigs for the local nodes, signed by the plane's CA.

- each kubelet: ``CN=system:node:<node>, O=system:nodes`` (RBAC's `system:node` role is bound
  to that group by the node stack, since the Node authorizer is not enabled here);
- each kube-proxy: ``CN=system:kube-proxy`` (bound to `system:node-proxier` by default);
- the API server's client to the kubelets (logs, exec, port-forward):
  ``CN=kube-apiserver-kubelet-client``. Kubelets accept any certificate the CA signed.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kovirt.localstack.certs import CertFiles

_DAYS = 365
_RENEW_BEFORE = datetime.timedelta(days=7)
APISERVER_KUBELET_CLIENT = "kube-apiserver-kubelet-client"


def ensure_client_cert(
    ca: CertFiles, folder: Path, name: str, common_name: str, organization: str | None = None
) -> tuple[Path, Path]:
    """folder/name.crt and .key, made unless a current one from the same CA exists."""
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    ca_cert = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    if _is_current(cert_path, key_path, ca_cert):
        return cert_path, key_path
    ca_key = serialization.load_pem_private_key(ca.ca_key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        subject.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _is_current(cert_path: Path, key_path: Path, ca_cert: x509.Certificate) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    return cert.issuer == ca_cert.subject and cert.not_valid_after_utc - _RENEW_BEFORE > now


def write_kubeconfig(path: Path, server: str, ca: CertFiles, cert: Path, key: Path) -> None:
    def data(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {"server": server, "certificate-authority-data": data(ca.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "local",
                "user": {"client-certificate-data": data(cert), "client-key-data": data(key)},
            }
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
        "current-context": "local",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
