"""Clone benchmark: kovirt.ceph's copy-on-write clone vs `rbd clone`, same cluster, same run.

For each golden image size (default 1 GiB and 100 GiB, both sparse: RBD is thin, so only the
few MiB written are stored), the golden image is snapshotted and protected once; then each
method clones it N times, interleaved so that drift hits all methods alike:

- ``wrapper``: ``kovirt.ceph.images.clone_image`` on one shared connection (what the operator
  does, through ``asyncio.to_thread``);
- ``binding``: ``rbd.RBD().clone`` with ioctxs kept open (the floor under the wrapper);
- ``cli``: ``rbd clone`` as a process (what a shell script or CSI-less tool pays).

Reported: median and p90 per method and size, the wrapper / CLI ratio, and the 100 GiB / 1 GiB
ratio per method (about 1.0 means clone time does not grow with the image size).

    .venv/bin/python bench/clone_bench.py [--clones 20] [--sizes-gib 1 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from kovirt.ceph import PoolSpec, Replicated, connect, images, pools
from kovirt.ceph.connection import Cluster
from kovirt.ceph.images import ImageRef
from kovirt.localstack.ceph import LocalCeph

GiB = 1024**3
MiB = 1024**2
POOL = "kovirt-bench"
OWNER = "clone-bench"
SNAPSHOT = "golden"


@dataclass
class Result:
    method: str
    size_gib: int
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p90_ms(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] * 1000


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def make_golden(cluster: Cluster, size_gib: int) -> str:
    """A sparse golden image with a few MiB of real data, snapshotted and protected."""
    name = f"golden-{size_gib}g"
    images.create_image(cluster, POOL, name, size_gib * GiB)
    for offset in (0, size_gib * GiB // 2, size_gib * GiB - 4 * MiB):
        images.write_image(cluster, POOL, name, offset, os.urandom(4 * MiB))
    images.create_snapshot(cluster, POOL, name, SNAPSHOT)
    images.protect_snapshot(cluster, POOL, name, SNAPSHOT)
    return name


def bench_size(cluster: Cluster, conf: str, size_gib: int, clones: int) -> list[Result]:
    import rbd

    golden = make_golden(cluster, size_gib)
    parent = ImageRef(POOL, golden)
    results = {m: Result(m, size_gib, []) for m in ("wrapper", "binding", "cli")}
    with cluster.ioctx(POOL) as ioctx:
        raw = rbd.RBD()
        for i in range(clones):
            child = f"{golden}-w{i}"
            results["wrapper"].seconds.append(
                timed(
                    lambda c=child: images.clone_image(cluster, parent, SNAPSHOT, ImageRef(POOL, c))
                )
            )
            child = f"{golden}-b{i}"
            results["binding"].seconds.append(
                timed(lambda c=child: raw.clone(ioctx, golden, SNAPSHOT, ioctx, c))
            )
            child = f"{golden}-c{i}"
            command = ["rbd", "-c", conf, "clone", f"{POOL}/{golden}@{SNAPSHOT}", f"{POOL}/{child}"]
            results["cli"].seconds.append(
                timed(lambda cmd=command: subprocess.run(cmd, check=True, capture_output=True))
            )
    for child in images.list_children(cluster, POOL, golden, SNAPSHOT):
        images.remove_image(cluster, child.pool, child.name)
    images.unprotect_snapshot(cluster, POOL, golden, SNAPSHOT)
    images.remove_snapshot(cluster, POOL, golden, SNAPSHOT)
    images.remove_image(cluster, POOL, golden)
    return list(results.values())


def report(results: list[Result], clones: int, osds: int) -> str:
    by = {(r.method, r.size_gib): r for r in results}
    sizes = sorted({r.size_gib for r in results})
    lines = [
        f"machine: {cpu_model()} · {os.cpu_count()} cpus · load {os.getloadavg()[0]:.1f} · "
        f"Python {platform.python_version()} · {osds} memstore OSDs · {clones} clones per cell",
        "",
        "| golden size | method | median ms | p90 ms | wrapper / CLI (median) |",
        "|---|---|---|---|---|",
    ]
    for size in sizes:
        cli = by[("cli", size)].median_ms
        for method in ("wrapper", "binding", "cli"):
            r = by[(method, size)]
            lines.append(
                f"| {size} GiB | {method} | {r.median_ms:.1f} | {r.p90_ms:.1f} | "
                f"{r.median_ms / cli:.2f} |"
            )
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        lines += ["", f"| method | {large} GiB / {small} GiB (median) |", "|---|---|"]
        for method in ("wrapper", "binding", "cli"):
            ratio = by[(method, large)].median_ms / by[(method, small)].median_ms
            lines.append(f"| {method} | {ratio:.2f} |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clones", type=int, default=20)
    parser.add_argument("--sizes-gib", type=int, nargs="+", default=[1, 100])
    args = parser.parse_args()

    stack = LocalCeph()
    started_here = not stack.is_healthy_and_running()
    info = stack.up()
    try:
        with connect(stack.credentials()) as cluster:
            spec = PoolSpec(POOL, owner=OWNER, layout=Replicated(3, failure_domain="osd"))
            pools.ensure_pools(cluster, spec)
            try:
                results = [
                    r
                    for size in args.sizes_gib
                    for r in bench_size(cluster, str(info.conf_path), size, args.clones)
                ]
            finally:
                pools.delete_pool(cluster, POOL, OWNER, allow_images=True)
        print(report(results, args.clones, info.osds))
    finally:
        if started_here and os.environ.get("KOVIRT_KEEP_STACK") != "1":
            stack.down()


if __name__ == "__main__":
    main()
