"""The local Ceph cluster: one mon, one mgr and N memstore OSDs on 127.0.0.1.

Built from Debian's ceph-mon / ceph-mgr / ceph-osd (Pacific). Everything lives in
``state_dir("ceph")``: ``ceph.conf``, keyrings, one data folder per daemon, ``logs/``,
``pids/`` and ``cluster.json`` (fsid, mon port, OSD count). Only the daemons whose pids are in
``pids/`` are ever signalled.

memstore keeps object data in RAM (and dumps it to the data folder on a clean shutdown), so the
cluster is fast to create and cheap for thin RBD images: a sparse 100 GiB image costs only the
objects actually written. ``memstore device bytes`` is the capacity each OSD reports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kovirt.ceph.connection import Credentials, connect
from kovirt.ceph.errors import CephError
from kovirt.errors import KovirtError, MissingDependency
from kovirt.localstack.paths import state_dir
from kovirt.localstack.process import Daemon, free_port, wait_until

DEFAULT_OSDS = 3
# Capacity each memstore OSD reports. RAM is used only for data actually written, so this can be
# larger than the machine's free memory as long as tests write little (they write megabytes).
DEFAULT_OSD_BYTES = 8 * 1024**3
MON_ID = "a"
MGR_ID = "x"
PROGRAMS = ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph-authtool", "monmaptool")
INSTALL_HINT = "apt-get install -y ceph-mon ceph-mgr ceph-osd ceph-common python3-rados python3-rbd"


@dataclass(frozen=True)
class CephInfo:
    """How to reach the running local cluster (what a client needs, nothing more)."""

    fsid: str
    mon_host: str
    conf_path: Path
    admin_keyring_path: Path
    osds: int

    @property
    def admin_key(self) -> str:
        return read_key(self.admin_keyring_path)

    @property
    def mon_endpoint(self) -> tuple[str, int]:
        """(ip, port) of the mon, for clients that take host and port apart (libvirt, QEMU)."""
        ip, port = self.mon_host.strip("[]").removeprefix("v2:").rsplit(":", 1)
        return ip, int(port)


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    pid: int | None


@dataclass(frozen=True)
class ClusterStatus:
    info: CephInfo | None
    daemons: list[DaemonStatus]
    health: str | None  # None when the cluster does not answer

    @property
    def running(self) -> bool:
        return bool(self.daemons) and all(d.pid is not None for d in self.daemons)


class LocalCeph:
    """Create, start, stop and inspect the local cluster kept in one state folder."""

    def __init__(self, root: Path | None = None, public_addr: str = "127.0.0.1") -> None:
        """`public_addr`: where the daemons listen; the real-nodes stack uses its bridge
        address so that pods reach the monitors and OSDs."""
        self.root = root or state_dir("ceph")
        self.public_addr = public_addr
        self.log_dir = self.root / "logs"
        self.pid_dir = self.root / "pids"
        self.run_dir = self.root / "run"
        self.conf_path = self.root / "ceph.conf"
        self.admin_keyring_path = self.root / "ceph.client.admin.keyring"
        self.mon_keyring_path = self.root / "mon.keyring"
        self.meta_path = self.root / "cluster.json"

    # ---- public API -------------------------------------------------------------------------

    def up(
        self,
        osds: int = DEFAULT_OSDS,
        osd_bytes: int = DEFAULT_OSD_BYTES,
        timeout_s: float = 120.0,
        say: Callable[[str], None] = print,
    ) -> CephInfo:
        """Bring the cluster up, reusing a running one; return how to reach it.

        Idempotent: a healthy running cluster is reused as is; a stopped one (state kept by
        ``down``) is restarted; missing OSDs (``osds`` above the current count) are added.
        """
        _require_programs()
        started = time.monotonic()
        meta = self._read_meta()
        if meta is None:
            say(f"ceph: creating a new cluster with {osds} memstore OSDs in {self.root}")
            meta = self._create(osds, osd_bytes)
        self._start_mon_mgr()
        self._wait_mon(timeout_s)
        if osds > meta["osds"]:
            say(f"ceph: adding OSDs {meta['osds']}..{osds - 1}")
            self._add_osds(range(meta["osds"], osds))
            meta["osds"] = osds
            self._write_meta(meta)
        self._start_osds(meta["osds"])
        self._wait_ready(meta["osds"], timeout_s)
        say(f"ceph: up with {meta['osds']} OSDs in {time.monotonic() - started:.1f}s")
        return self.info()

    def down(self, purge: bool = False) -> list[str]:
        """Stop exactly our daemons (OSDs first, mon last); purge also deletes the state."""
        stopped = [d.name for d in reversed(self._daemons()) if d.stop(timeout_s=15.0)]
        if purge and self.root.exists():
            shutil.rmtree(self.root)
        return stopped

    def status(self) -> ClusterStatus:
        meta = self._read_meta()
        daemons = [DaemonStatus(d.name, d.pid()) for d in self._daemons()]
        health = None
        if meta is not None and any(d.pid for d in daemons):
            health = self._health_or_none()
        return ClusterStatus(self.info() if meta else None, daemons, health)

    def info(self) -> CephInfo:
        meta = self._read_meta()
        if meta is None:
            raise KovirtError("no local Ceph cluster: run `kovirt ceph up`", reason="NotCreated")
        return CephInfo(
            fsid=meta["fsid"],
            mon_host=meta["mon_host"],
            conf_path=self.conf_path,
            admin_keyring_path=self.admin_keyring_path,
            osds=meta["osds"],
        )

    def is_healthy_and_running(self) -> bool:
        meta = self._read_meta()
        if meta is None or not all(d.running() for d in self._daemons()):
            return False
        return self._osds_ready(meta["osds"])

    # ---- creation ---------------------------------------------------------------------------

    def _create(self, osds: int, osd_bytes: int) -> dict:
        if self.root.exists():
            # Leftovers of a half-made cluster (no cluster.json): start from scratch.
            for daemon in self._daemons():
                daemon.stop()
            shutil.rmtree(self.root)
        for folder in (self.root, self.log_dir, self.pid_dir, self.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        mon_host = f"[v2:{self.public_addr}:{free_port()}]"
        self.conf_path.write_text(
            render_conf(self.root, fsid, mon_host, osd_bytes, self.public_addr)
        )
        self._make_keyrings()
        self._mkfs_mon(fsid, mon_host)
        meta = {"fsid": fsid, "mon_host": mon_host, "osds": 0}
        self._write_meta(meta)
        self._start_mon_mgr()
        self._wait_mon(60.0)
        self._add_osds(range(osds))
        meta["osds"] = osds
        self._write_meta(meta)
        return meta

    def _make_keyrings(self) -> None:
        authtool = ["ceph-authtool"]
        _run(
            [
                *authtool,
                "--create-keyring",
                str(self.mon_keyring_path),
                "--gen-key",
                "-n",
                "mon.",
                "--cap",
                "mon",
                "allow *",
            ]
        )
        _run(
            [
                *authtool,
                "--create-keyring",
                str(self.admin_keyring_path),
                "--gen-key",
                "-n",
                "client.admin",
                "--cap",
                "mon",
                "allow *",
                "--cap",
                "osd",
                "allow *",
                "--cap",
                "mds",
                "allow *",
                "--cap",
                "mgr",
                "allow *",
            ]
        )
        mgr_dir = self.root / f"mgr.{MGR_ID}"
        mgr_dir.mkdir(exist_ok=True)
        _run(
            [
                *authtool,
                "--create-keyring",
                str(mgr_dir / "keyring"),
                "--gen-key",
                "-n",
                f"mgr.{MGR_ID}",
                "--cap",
                "mon",
                "allow profile mgr",
                "--cap",
                "osd",
                "allow *",
                "--cap",
                "mds",
                "allow *",
            ]
        )
        # The mon's initial auth database holds admin and mgr, so neither needs a round trip.
        for keyring in (self.admin_keyring_path, mgr_dir / "keyring"):
            _run([*authtool, str(self.mon_keyring_path), "--import-keyring", str(keyring)])

    def _mkfs_mon(self, fsid: str, mon_host: str) -> None:
        monmap = self.root / "monmap"
        _run(["monmaptool", "--create", "--fsid", fsid, "--addv", MON_ID, mon_host, str(monmap)])
        _run(
            [
                "ceph-mon",
                "-c",
                str(self.conf_path),
                "--mkfs",
                "-i",
                MON_ID,
                "--monmap",
                str(monmap),
                "--keyring",
                str(self.mon_keyring_path),
            ]
        )

    def _add_osds(self, ids: range) -> None:
        """Register, mkfs and key the OSDs; the slow mkfs steps run in parallel."""
        procs = []
        for osd_id in ids:
            osd_dir = self.root / f"osd.{osd_id}"
            if osd_dir.exists():
                shutil.rmtree(osd_dir)
            osd_dir.mkdir()
            osd_uuid = str(uuid.uuid4())
            key = _gen_key(osd_dir / "keyring", f"osd.{osd_id}")
            self._register_osd(osd_id, osd_uuid, key)
            # --no-mon-config: mkfs must not try to fetch config from the mon.
            procs.append(
                subprocess.Popen(
                    [
                        "ceph-osd",
                        "-c",
                        str(self.conf_path),
                        "-i",
                        str(osd_id),
                        "--mkfs",
                        "--osd-uuid",
                        osd_uuid,
                        "--no-mon-config",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise KovirtError(f"ceph-osd --mkfs failed:\n{out}", reason="OsdMkfsFailed")

    # ---- start and wait ---------------------------------------------------------------------

    def _daemons(self) -> list[Daemon]:
        meta = self._read_meta() or {"osds": 0}
        names = [f"mon.{MON_ID}", f"mgr.{MGR_ID}"] + [f"osd.{i}" for i in range(meta["osds"])]
        return [Daemon(name, self.pid_dir, self.log_dir) for name in names]

    def _daemon(self, name: str) -> Daemon:
        return Daemon(name, self.pid_dir, self.log_dir)

    def _start_mon_mgr(self) -> None:
        conf = ["-c", str(self.conf_path)]
        self._daemon(f"mon.{MON_ID}").start(["ceph-mon", "-f", *conf, "-i", MON_ID])
        self._daemon(f"mgr.{MGR_ID}").start(["ceph-mgr", "-f", *conf, "-i", MGR_ID])

    def _start_osds(self, count: int) -> None:
        for osd_id in range(count):
            self._daemon(f"osd.{osd_id}").start(
                ["ceph-osd", "-f", "-c", str(self.conf_path), "-i", str(osd_id)]
            )

    def _wait_mon(self, timeout_s: float) -> None:
        self._wait(self._answers, timeout_s, "the Ceph mon")

    def _wait_ready(self, osds: int, timeout_s: float) -> None:
        self._wait(lambda: self._osds_ready(osds), timeout_s, f"{osds} OSDs up+in and a mgr")

    def _wait(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
        def check() -> bool:
            dead = [d.name for d in self._daemons() if d.pid_file.exists() and not d.running()]
            if dead:
                tails = "\n".join(f"--- {n}\n{self._ceph_log_tail(n)}" for n in dead)
                raise KovirtError(
                    f"ceph daemon(s) exited: {', '.join(dead)}\n{tails}", reason="DaemonExited"
                )
            return predicate()

        try:
            wait_until(check, timeout_s, interval_s=0.2, what=what)
        except TimeoutError as error:
            raise KovirtError(f"{error}; logs in {self.log_dir}", reason="Timeout") from error

    # ---- talking to the cluster (through kovirt.ceph, with short timeouts) -------------------

    def credentials(self) -> Credentials:
        return Credentials.from_conf(self.conf_path, "admin", self.admin_keyring_path)

    def _answers(self) -> bool:
        try:
            with connect(self.credentials(), timeout_s=3) as cluster:
                cluster.mon_command("mon stat")
                return True
        except CephError:
            return False

    def _osds_ready(self, osds: int) -> bool:
        """All OSDs up and in, and a mgr active (health and df need it)."""
        try:
            with connect(self.credentials(), timeout_s=3) as cluster:
                stat = cluster.mon_command("osd stat")
                mgr = cluster.mon_command("mgr stat")
        except CephError:
            return False
        return (
            stat["num_osds"] == osds
            and stat["num_up_osds"] == osds
            and stat["num_in_osds"] == osds
            and bool(mgr.get("available"))
        )

    def _health_or_none(self) -> str | None:
        try:
            with connect(self.credentials(), timeout_s=3) as cluster:
                return cluster.mon_command("health")["status"]
        except CephError:
            return None

    def _register_osd(self, osd_id: int, osd_uuid: str, key: str) -> None:
        """Allocate the OSD id and its cephx key in one mon command, as ceph-volume does."""
        secrets = json.dumps({"cephx_secret": key}).encode()
        with connect(self.credentials(), timeout_s=10) as cluster:
            cluster.mon_command("osd new", inbuf=secrets, uuid=osd_uuid, id=osd_id)

    def _ceph_log_tail(self, name: str, lines: int = 15) -> str:
        for path in (self.log_dir / f"ceph-{name}.log", self.log_dir / f"{name}.log"):
            if path.exists():
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # ---- metadata ---------------------------------------------------------------------------

    def _read_meta(self) -> dict | None:
        try:
            return json.loads(self.meta_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _write_meta(self, meta: dict) -> None:
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2))
        tmp.replace(self.meta_path)


def render_conf(
    root: Path, fsid: str, mon_host: str, osd_bytes: int, public_addr: str = "127.0.0.1"
) -> str:
    """ceph.conf for a one-machine test cluster; every path points inside root."""
    return f"""\
[global]
fsid = {fsid}
mon_host = {mon_host}
public_addr = {public_addr}
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
# msgr v2 only, on public_addr (loopback unless the real-nodes stack asks its bridge).
ms_bind_msgr1 = false
ms_bind_msgr2 = true
run_dir = {root}/run
admin_socket = {root}/run/$cluster-$name.asok
log_file = {root}/logs/ceph-$name.log
# All OSDs sit on one host: replicate across OSDs, not hosts.
osd_crush_chooseleaf_type = 0
osd_objectstore = memstore
memstore_device_bytes = {osd_bytes}
# Small fixed PG counts: many short-lived test pools on 3 OSDs stay under the per-OSD limit,
# and no autoscaler churn eats the shared CPUs.
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
# Test-cluster-only: the state folder's disk is shared and may be fuller than 30%.
mon_data_avail_warn = 1
mon_warn_on_pool_no_redundancy = false
auth_allow_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# TEST-CLUSTER-ONLY: RBD on erasure-coded pools needs EC overwrites, which the mon refuses on
# anything but BlueStore. memstore is safe for it here; real clusters use BlueStore.
mon_debug_no_require_bluestore_for_ec_overwrites = true

[mon]
mon_data = {root}/mon.$id
keyring = {root}/mon.$id/keyring
mon_cluster_log_file = {root}/logs/ceph-cluster.log
# Commit map changes at once instead of batching them for a second (default): pool set-up
# is a dozen map changes and a test cluster has no load to batch.
paxos_propose_interval = 0.01
paxos_min_wait = 0.01

[mgr]
mgr_data = {root}/mgr.$id
keyring = {root}/mgr.$id/keyring

[osd]
osd_data = {root}/osd.$id
keyring = {root}/osd.$id/keyring
# Fewer worker threads: the machine's cores are shared.
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
# Report PG stats every second (default 5): `ceph df` shows a new pool's usage sooner.
osd_mon_report_interval = 1
# memstore writes its data to disk only when the store is unmounted; a fast shutdown skips
# that, and a restarted cluster would come back with PGs nobody knows (stuck "unknown").
osd_fast_shutdown = false

# Daemons read `keyring` too, so the admin keyring goes under [client] only.
[client]
keyring = {root}/ceph.client.admin.keyring
"""


def read_key(keyring_path: Path) -> str:
    """The base64 secret from a keyring file (its first `key = ...` line)."""
    for line in keyring_path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "key":
            return value.strip()
    raise KovirtError(f"no key in {keyring_path}", reason="BadKeyring")


def _gen_key(keyring_path: Path, entity: str) -> str:
    _run(["ceph-authtool", "--create-keyring", str(keyring_path), "--gen-key", "-n", entity])
    return read_key(keyring_path)


def _require_programs() -> None:
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        raise MissingDependency(f"missing {', '.join(missing)}: install with `{INSTALL_HINT}`")


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise KovirtError(
            f"`{' '.join(argv)}` failed ({result.returncode}): {result.stderr or result.stdout}",
            reason="CommandFailed",
        )
    return result.stdout
