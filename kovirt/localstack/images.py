"""Build kovirt's container images without Docker: mmdebstrap + umoci, cached by content.

Nothing can be pulled here and no Docker daemon runs, so the local nodes get their images
from this builder (DESIGN.md §4, "Real nodes"):

- **kovirt**: two layers. The base is a Debian rootfs made by ``mmdebstrap`` from apt's
  configured sources with exactly ``packaging/apt-packages.txt`` (the run-time list the
  Dockerfile installs, so the two images cannot drift; the local stack's extras in
  ``apt-packages-dev.txt`` stay out), a venv in ``/opt/kovirt`` that sees the
  Debian bindings, and the ``kovirt`` user (uid 10001), as in the Dockerfile. The app layer
  is the kovirt wheel installed into that venv. The base changes only with the package
  list, so a code change rebuilds the small app layer alone.
- **pause**: the sandbox image containerd starts for every pod, a static C program.

Each image is cached in ``cache_dir("images")/<name>-<digest>/`` where the digest hashes
every input (package list, apt sources, source files, recipe version); the folder holds
the OCI layout (``oci/``) and an OCI archive (``image.tar``) for ``ctr images import``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kovirt.errors import KovirtError, MissingDependency
from kovirt.localstack.paths import cache_dir, repo_root

Echo = Callable[[str], None]

REGISTRY = "kovirt.local"
BASE_TAG = "base"  # the tag of the base layer's own layout (never imported)
# A moving tag each node's containerd points at its newest kovirt image, so that
# charts/kovirt/values-local.yaml can name the image without knowing its digest.
LOCAL_TAG = "local"
SUITE = "bookworm"
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
USER_ID = 10001
VENV = "/opt/kovirt"
# The Debian-only Python modules the image exists for; the base layer fails without them.
BINDINGS = "rados, rbd, libvirt, lxml"
# Bump when the recipe below changes in a way the hashed inputs do not show.
RECIPE_VERSION = "1"
# A Debian rootfs with Python is tens of megabytes; less means the build went wrong.
MIN_ROOTFS_BYTES = 20 * 1024 * 1024
# Where the kovirt wheel's inputs live (the same folders the Dockerfile copies).
WHEEL_INPUTS = ("pyproject.toml", "README.md", "kovirt", "operator", "node_agent")
TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "umoci": "umoci",
    "gcc": "gcc",
}
PAUSE_SOURCE = r"""
/* The pod sandbox's only process: sleep until told to stop, reap orphans meanwhile. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
"""


@dataclass(frozen=True)
class BuiltImage:
    """One image in the cache: its reference and the files that hold it."""

    name: str
    tag: str
    folder: Path

    @property
    def ref(self) -> str:
        return f"{REGISTRY}/{self.name}:{self.tag}"

    @property
    def local_ref(self) -> str:
        return f"{REGISTRY}/{self.name}:{LOCAL_TAG}"

    @property
    def base_name(self) -> str:
        """What `ctr images import --base-name` wants (the tag comes from the archive)."""
        return f"{REGISTRY}/{self.name}"

    @property
    def archive(self) -> Path:
        return self.folder / "image.tar"

    @property
    def layout(self) -> Path:
        return self.folder / "oci"

    def is_complete(self) -> bool:
        return (self.folder / ".complete").is_file() and self.archive.is_file()


@dataclass(frozen=True)
class Images:
    kovirt: BuiltImage
    pause: BuiltImage

    def all(self) -> tuple[BuiltImage, ...]:
        return (self.kovirt, self.pause)


# -- inputs ------------------------------------------------------------------------------


def package_list(path: Path | None = None) -> list[str]:
    """The package names of packaging/apt-packages.txt (the image's run-time list), read as
    the Dockerfile's `grep -vE '^\\s*(#|$)'` reads it (one name a line, comments and blanks
    skipped)."""
    path = path or repo_root() / "packaging" / "apt-packages.txt"
    names = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            names.append(stripped)
    return names


def wheel_input_files(root: Path | None = None) -> list[Path]:
    """Every file the kovirt wheel is built from, sorted (caches and bytecode left out)."""
    root = root or repo_root()
    files: list[Path] = []
    for entry in WHEEL_INPUTS:
        path = root / entry
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [
            file
            for file in candidates
            if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc"
        ]
    return sorted(files)


def digest_of(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def base_digest() -> str:
    packages = "\n".join(package_list()).encode()
    return digest_of([RECIPE_VERSION.encode(), SUITE.encode(), packages, _apt_sources_bytes()])


def kovirt_digest() -> str:
    root = repo_root()
    files = wheel_input_files(root)
    names = "\n".join(str(file.relative_to(root)) for file in files).encode()
    return digest_of([base_digest().encode(), names, *(file.read_bytes() for file in files)])


def pause_digest() -> str:
    return digest_of([RECIPE_VERSION.encode(), PAUSE_SOURCE.encode()])


def _apt_sources_bytes() -> bytes:
    try:
        return APT_SOURCES.read_bytes()
    except FileNotFoundError:
        return b""


# -- public verbs ------------------------------------------------------------------------


def planned_images() -> Images:
    """Which images the current inputs make (built or not)."""
    kovirt, pause = kovirt_digest()[:16], pause_digest()[:16]
    return Images(
        kovirt=BuiltImage("kovirt", kovirt, cache_dir("images") / f"kovirt-{kovirt}"),
        pause=BuiltImage("pause", pause, cache_dir("images") / f"pause-{pause}"),
    )


def ensure_images(echo: Echo = print) -> Images:
    """Build whatever image is missing for the current inputs; reuse the rest."""
    # Two callers (a CLI and a test session) may race; the second waits, then reuses.
    with open(cache_dir("images") / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_images(echo)


def _ensure_images(echo: Echo) -> Images:
    images = planned_images()
    try:
        return _build_missing(images, echo)
    finally:
        _prune_stale(images)


def _prune_stale(images: Images) -> None:
    """Remove cached builds of older inputs: each kovirt image holds the whole base layer
    (hundreds of MB), and every code change makes a new one."""
    keep = {images.kovirt.folder.name, images.pause.folder.name}
    keep |= {f"base-{base_digest()[:16]}", f"deps-{deps_digest()[:16]}"}
    for folder in cache_dir("images").iterdir():
        kind = folder.name.split("-", 1)[0]
        ours = kind in {"kovirt", "pause", "base", "deps"}
        if folder.is_dir() and ours and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def _build_missing(images: Images, echo: Echo) -> Images:
    if not images.pause.is_complete():
        _check_tools(("umoci", "gcc"))
        _timed(echo, "pause image", lambda: build_pause(images.pause))
    else:
        echo(f"pause image: cached ({images.pause.ref})")
    if not images.kovirt.is_complete():
        _check_tools(("mmdebstrap", "umoci"))
        _timed(echo, "kovirt image", lambda: build_kovirt(images.kovirt, echo))
    else:
        echo(f"kovirt image: cached ({images.kovirt.ref})")
    return images


def _timed(echo: Echo, what: str, build: Callable[[], None]) -> None:
    echo(f"building the {what}")
    started = time.monotonic()
    build()
    echo(f"built the {what} in {time.monotonic() - started:.0f}s")


def _check_tools(names: Iterable[str]) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        packages = " ".join(TOOLS[name] for name in missing)
        raise MissingDependency(
            f"building images without Docker needs {', '.join(missing)}: "
            f"apt-get install -y {packages}"
        )


# -- pause -------------------------------------------------------------------------------


def build_pause(image: BuiltImage) -> None:
    with _fresh_folder(image.folder) as work:
        source, binary = work / "pause.c", work / "rootfs" / "pause"
        source.write_text(PAUSE_SOURCE)
        binary.parent.mkdir()
        _run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(source)])
        layer = work / "layer.tar"
        _write_layer(layer, work / "rootfs")
        _new_image(image, [layer], entrypoint=["/pause"], user=None, extra=[])


# -- kovirt ------------------------------------------------------------------------------


def build_kovirt(image: BuiltImage, echo: Echo) -> None:
    base = _ensure_base(echo)
    with _fresh_folder(image.folder) as work:
        wheel = build_wheel(work / "wheels")
        python = json.loads((base.parent / "python.json").read_text())["version"]
        deps = _ensure_deps_layer(python, echo)
        layer = work / "app.tar"
        _write_layer(layer, install_wheel(wheel, work / "app", python))
        _new_image(
            image,
            [deps, layer],
            start=_ensure_base_layout(base),
            entrypoint=["/usr/bin/tini", "--"],
            user=f"{USER_ID}:{USER_ID}",
            extra=[
                "--config.cmd=kovirt-operator",
                f"--config.env=PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--config.env=PYTHONUNBUFFERED=1",
                "--config.workingdir=/var/lib/kovirt",
            ],
        )


def _ensure_base_layout(base: Path) -> Path:
    """An OCI layout holding just the base layer, compressed once (gzip of a GB takes
    half a minute); every kovirt build starts from a hard-linked copy of it."""
    layout = base.parent / "oci"
    if (base.parent / ".layout-complete").is_file():
        return layout
    shutil.rmtree(layout, ignore_errors=True)
    _run(["umoci", "init", "--layout", str(layout)])
    _run(["umoci", "new", "--image", f"{layout}:{BASE_TAG}"])
    _run(["umoci", "raw", "add-layer", "--image", f"{layout}:{BASE_TAG}", str(base)])
    (base.parent / ".layout-complete").write_text("\n")
    return layout


def _ensure_base(echo: Echo) -> Path:
    """The package layer (a rootfs tar), cached by the package list and apt sources."""
    folder = cache_dir("images") / f"base-{base_digest()[:16]}"
    tar = folder / "rootfs.tar"
    if (folder / ".complete").is_file() and tar.is_file():
        echo(f"base layer: cached ({tar})")
        return tar
    echo(f"base layer: mmdebstrap {SUITE} with {len(package_list())} packages (minutes cold)")
    # Built aside and renamed into place: an interrupted build never looks complete.
    partial = folder.with_name(f"{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        _run(_mmdebstrap_argv(partial / "rootfs.tar", partial / "python.json"))
        if (partial / "rootfs.tar").stat().st_size < MIN_ROOTFS_BYTES:
            raise KovirtError(f"mmdebstrap wrote an implausibly small {partial / 'rootfs.tar'}")
        (partial / ".complete").write_text(base_digest() + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return tar


def _mmdebstrap_argv(tar: Path, python_json: Path) -> list[str]:
    # The hooks do what the Dockerfile's RUN lines do after apt: the venv that sees the
    # Debian bindings (which must import there, as the Dockerfile checks) and the
    # unprivileged user. The Python version is recorded so the app layer lands in the venv's
    # site-packages.
    version_probe = (
        "import json, sys; print(json.dumps({'version': '%d.%d' % sys.version_info[:2]}))"
    )
    hooks = [
        f'chroot "$1" python3 -m venv --system-site-packages {VENV}',
        f'chroot "$1" {VENV}/bin/python -c "import {BINDINGS}"',
        f'chroot "$1" useradd --system --uid {USER_ID} --user-group '
        "--home-dir /var/lib/kovirt --create-home kovirt",
        f'chroot "$1" python3 -c "{version_probe}" > {python_json}',
        'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
    ]
    argv = [
        "mmdebstrap",
        "--variant=apt",
        f"--include={','.join(package_list())}",
        # Docs, manuals and translations are a fifth of the size and nothing reads them.
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        *(f"--customize-hook={hook}" for hook in hooks),
        SUITE,
        str(tar),
    ]
    if APT_SOURCES.is_file():
        # apt's configured sources (a mirror or proxy the machine is set up for).
        argv.append(str(APT_SOURCES))
    return argv


def dependencies() -> list[str]:
    """kovirt's runtime requirements, as pyproject.toml lists them."""
    project = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]
    return list(project.get("dependencies", []))


def deps_digest() -> str:
    return digest_of([base_digest().encode(), "\n".join(dependencies()).encode()])


def _ensure_deps_layer(python_version: str, echo: Echo) -> Path:
    """kovirt's PyPI dependencies in the venv, a layer of their own: it changes only with
    pyproject's dependency list, so a code change does not download them again."""
    folder = cache_dir("images") / f"deps-{deps_digest()[:16]}"
    layer = folder / "layer.tar"
    if (folder / ".complete").is_file() and layer.is_file():
        echo(f"dependency layer: cached ({layer})")
        return layer
    echo(f"dependency layer: pip install {len(dependencies())} requirements")
    with _fresh_folder(folder) as work:
        _check_python(python_version)
        # --ignore-installed: this machine's venv may hold them already; the image's not.
        pip = [sys.executable, "-m", "pip", "install", "-q", "--ignore-installed"]
        options = ["--no-compile", "--no-warn-script-location", "--root", str(work / "deps")]
        _run([*pip, *options, "--prefix", VENV, *dependencies()])
        _rewrite_shebangs(work / "deps" / VENV.lstrip("/") / "bin")
        _write_layer(work / "layer.tar", work / "deps")
        (work / "layer.tar").rename(layer)
        (folder / ".complete").write_text(deps_digest() + "\n")
    return layer


def _check_python(python_version: str) -> None:
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if here != python_version:
        raise KovirtError(
            f"the image's Python is {python_version}, this one is {here}: "
            "run the builder with the same Debian release's python3"
        )


def _rewrite_shebangs(bin_dir: Path) -> None:
    if bin_dir.is_dir():
        for script in bin_dir.iterdir():
            if script.is_file() and not script.is_symlink():
                _rewrite_shebang(script, f"#!{VENV}/bin/python")


def build_wheel(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    # With build isolation, as the Dockerfile builds it: pip fetches the build backend
    # pyproject.toml asks for, whatever the venv's setuptools is.
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(out_dir)]
    _run([*argv, str(repo_root())])
    wheels = sorted(out_dir.glob("kovirt-*.whl"))
    if not wheels:
        raise KovirtError(f"pip wheel made no kovirt wheel in {out_dir}")
    return wheels[-1]


def install_wheel(wheel: Path, staging: Path, python_version: str) -> Path:
    """Install the wheel under staging/opt/kovirt as the image's venv would have it.

    pip runs on this machine with --root/--prefix, so nothing executes inside the rootfs;
    its scripts name this machine's interpreter, which is rewritten to the venv's.
    """
    site = f"lib/python{python_version}/site-packages"
    _check_python(python_version)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile"]
    options = ["--ignore-installed", "--no-warn-script-location"]
    _run([*pip, *options, "--root", str(staging), "--prefix", VENV, str(wheel)])
    venv = staging / VENV.lstrip("/")
    if not (venv / site).is_dir():
        raise KovirtError(f"pip did not install into {venv / site}")
    _rewrite_shebangs(venv / "bin")
    return staging


def _rewrite_shebang(script: Path, shebang: str) -> None:
    text = script.read_bytes()
    if text.startswith(b"#!"):
        rest = text.split(b"\n", 1)[1] if b"\n" in text else b""
        script.write_bytes(shebang.encode() + b"\n" + rest)


# -- OCI plumbing ------------------------------------------------------------------------


def _write_layer(layer: Path, tree: Path) -> None:
    """A tar of tree's contents, owned by root, with fixed times (same input, same bytes)."""

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        return info

    with tarfile.open(layer, "w") as tar:
        for path in sorted(tree.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(tree)), recursive=False, filter=normalise)


def _new_image(
    image: BuiltImage,
    layers: list[Path],
    *,
    entrypoint: list[str],
    user: str | None,
    extra: list[str],
    start: Path | None = None,
) -> None:
    """An image of layers; on top of the BASE_TAG image of the layout `start` if given
    (hard-linked: blobs are content-addressed and never rewritten)."""
    target = f"{image.layout}:{image.tag}"
    if start is None:
        _run(["umoci", "init", "--layout", str(image.layout)])
        _run(["umoci", "new", "--image", target])
    else:
        shutil.copytree(start, image.layout, copy_function=os.link)
        first, *layers = layers
        base = f"{image.layout}:{BASE_TAG}"
        _run(["umoci", "raw", "add-layer", "--image", base, "--tag", image.tag, str(first)])
        _run(["umoci", "rm", "--image", base])
    for layer in layers:
        _run(["umoci", "raw", "add-layer", "--image", target, str(layer)])
    config = [f"--config.entrypoint={word}" for word in entrypoint] + extra
    if user:
        config.append(f"--config.user={user}")
    _run(["umoci", "config", "--image", target, *config])
    _run(["umoci", "gc", "--layout", str(image.layout)])
    _archive(image.layout, image.archive)
    (image.folder / ".complete").write_text(image.ref + "\n")


def _archive(layout: Path, archive: Path) -> None:
    partial = archive.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
    partial.replace(archive)


class _fresh_folder:
    """A clean image folder with a scratch area inside; the scratch is removed after,
    and the whole folder when the build fails (no half image is ever cached)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.scratch: Path | None = None

    def __enter__(self) -> Path:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.scratch = Path(tempfile.mkdtemp(prefix=".work-", dir=self.folder))
        return self.scratch

    def __exit__(self, kind, value, traceback) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        if kind is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _run(argv: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise KovirtError(f"{' '.join(argv[:4])} ... failed ({done.returncode}):\n{tail}")
