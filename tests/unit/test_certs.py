"""The local control plane's certificates: names, groups, chain and reuse."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from kovirt.localstack.certs import ensure_certs


def _cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_serving_cert_names_loopback_the_service_ip_and_the_in_cluster_names(tmp_path):
    files = ensure_certs(tmp_path)
    sans = _cert(files.serving_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert set(sans.value.get_values_for_type(x509.IPAddress)) >= {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.1"),
    }
    assert {"localhost", "kubernetes.default.svc"} <= set(
        sans.value.get_values_for_type(x509.DNSName)
    )


def test_serving_and_admin_certs_are_signed_by_the_ca(tmp_path):
    files = ensure_certs(tmp_path)
    ca = _cert(files.ca_cert)
    for leaf in (_cert(files.serving_cert), _cert(files.admin_cert)):
        leaf.verify_directly_issued_by(ca)


def test_admin_cert_belongs_to_system_masters(tmp_path):
    files = ensure_certs(tmp_path)
    subject = _cert(files.admin_cert).subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]


def test_service_account_key_pair_is_rsa_and_matches(tmp_path):
    files = ensure_certs(tmp_path)
    private = serialization.load_pem_private_key(
        files.service_account_key.read_bytes(), password=None
    )
    public = serialization.load_pem_public_key(files.service_account_pub.read_bytes())
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.public_key().public_numbers() == public.public_numbers()


def test_private_keys_are_readable_only_by_the_owner(tmp_path):
    files = ensure_certs(tmp_path)
    for key in (files.ca_key, files.serving_key, files.admin_key, files.service_account_key):
        assert key.stat().st_mode & 0o077 == 0, key


def test_second_call_reuses_every_file(tmp_path):
    first = ensure_certs(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    ensure_certs(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert isinstance(
        serialization.load_pem_private_key(first.serving_key.read_bytes(), None),
        ec.EllipticCurvePrivateKey,
    )


def test_an_extra_ip_reissues_only_the_serving_cert(tmp_path):
    files = ensure_certs(tmp_path)
    ca_before, admin_before = files.ca_cert.read_bytes(), files.admin_cert.read_bytes()
    ensure_certs(tmp_path, extra_ips=("10.99.0.1",))
    sans = _cert(files.serving_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert ipaddress.ip_address("10.99.0.1") in sans.value.get_values_for_type(x509.IPAddress)
    assert files.ca_cert.read_bytes() == ca_before
    assert files.admin_cert.read_bytes() == admin_before
