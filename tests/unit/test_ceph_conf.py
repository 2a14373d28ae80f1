"""Pure parts of the local Ceph cluster and the import stream: config and chunking."""

from __future__ import annotations

import configparser
import io
from pathlib import Path

from kovirt.ceph.transfer import _chunks
from kovirt.localstack.ceph import read_key, render_conf


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_the_admin_keyring_is_under_client_so_daemons_do_not_read_it():
    conf = parse(render_conf(Path("/state"), "fsid-1", "[v2:127.0.0.1:3300]", 1024))
    assert conf["client"]["keyring"] == "/state/ceph.client.admin.keyring"
    assert "keyring" not in conf["global"]
    assert conf["osd"]["keyring"] == "/state/osd.$id/keyring"


def test_the_conf_is_a_loopback_msgr2_cephx_memstore_cluster():
    conf = parse(render_conf(Path("/state"), "fsid-1", "[v2:127.0.0.1:3300]", 1024))["global"]
    assert conf["mon_host"] == "[v2:127.0.0.1:3300]"
    assert conf["ms_bind_msgr1"] == "false"
    assert conf["auth_cluster_required"] == "cephx"
    assert conf["osd_objectstore"] == "memstore"
    assert conf["memstore_device_bytes"] == "1024"
    assert conf["osd_crush_chooseleaf_type"] == "0"
    assert conf["mon_debug_no_require_bluestore_for_ec_overwrites"] == "true"


def test_read_key_takes_the_secret_from_a_keyring(tmp_path):
    keyring = tmp_path / "k"
    keyring.write_text('[client.admin]\n\tkey = AQBsecret==\n\tcaps mon = "allow *"\n')
    assert read_key(keyring) == "AQBsecret=="


def test_a_file_is_read_in_fixed_chunks():
    assert list(_chunks(io.BytesIO(b"abcdefg"), 3)) == [b"abc", b"def", b"g"]


def test_an_iterator_is_recut_into_fixed_chunks_without_losing_bytes():
    pieces = [b"a", b"bcdef", b"", b"gh"]
    assert list(_chunks(iter(pieces), 3)) == [b"abc", b"def", b"gh"]


def test_the_mon_endpoint_is_split_into_ip_and_port():
    from kovirt.localstack.ceph import CephInfo

    info = CephInfo("f", "[v2:127.0.0.1:40123]", Path("c"), Path("k"), 3)
    assert info.mon_endpoint == ("127.0.0.1", 40123)
