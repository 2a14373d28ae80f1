"""The Dockerfile: Debian base, exactly the run-time package list, a non-root operator.

No Docker daemon runs here, so these tests read the Dockerfile; the package filter it
uses is run for real by bash on packaging/apt-packages.txt and compared with the list, and
the one scripts/bootstrap runs must give that list plus packaging/apt-packages-dev.txt (the
local stack's and the tests' extras), so the image and the local stack cannot drift.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PACKAGE_LIST = "packaging/apt-packages.txt"  # what the image needs at run time
DEV_PACKAGE_LIST = "packaging/apt-packages-dev.txt"  # only the local stack and the tests


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions per stage, with continuation lines joined and comments dropped."""
    stages: list[Stage] = []
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not logical:
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        logical += line.rstrip()
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        if logical.strip():
            keyword, _, args = logical.strip().partition(" ")
            keyword, args = keyword.upper(), " ".join(args.split())
            if keyword == "FROM":
                words = args.split()
                name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
                stages.append(Stage(base=words[0], name=name))
            else:
                stages[-1].instructions.append((keyword, args))
        logical = ""
    return stages


def runtime_stage() -> Stage:
    return parse_dockerfile(DOCKERFILE.read_text())[-1]


def shell_commands(command: str) -> list[list[str]]:
    """The simple commands of a shell line, split at &&, ||, ; and | (quotes respected)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";", "|"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


def apt_filter(command: str, list_path: str) -> list[str]:
    """The grep that turns the list file into package names, pointed at list_path."""
    for words in shell_commands(command):
        if words[0] == "grep" and words[-1].endswith("apt-packages.txt"):
            return [*words[:-1], list_path]
    raise AssertionError(f"no grep over apt-packages.txt in: {command}")


def packages_by(filter_argv: list[str]) -> list[str]:
    done = subprocess.run(filter_argv, capture_output=True, text=True, check=True)
    return done.stdout.split()


def listed(relative_path: str) -> list[str]:
    """The names in a list file, read here without any of the shell filters under test."""
    lines = (ROOT / relative_path).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def bootstrap_packages() -> list[str]:
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    line = next(line for line in bootstrap.splitlines() if "grep" in line and PACKAGE_LIST in line)
    words = shlex.split(re.search(r"\$\((grep .*)\)", line).group(1))
    return packages_by(
        [str(ROOT / word) if word.startswith("packaging/") else word for word in words]
    )


def apt_install_words(command: str) -> list[str]:
    """Words after each `apt-get install` up to the end of that simple command."""
    words: list[str] = []
    for command_words in shell_commands(command):
        if "apt-get" in command_words and "install" in command_words:
            words += command_words[command_words.index("install") + 1 :]
    return words


def test_every_stage_is_debian_bookworm():
    for stage in parse_dockerfile(DOCKERFILE.read_text()):
        assert re.fullmatch(r"debian:bookworm(-slim)?(@sha256:[0-9a-f]{64})?", stage.base)


def test_the_image_installs_exactly_the_run_time_package_list():
    stage = runtime_stage()
    copied = [args for args in stage.args_of("COPY") if "apt-packages" in args]
    assert [args.split()[0] for args in copied] == [PACKAGE_LIST], "the run-time list only"
    destination = copied[0].split()[-1]
    installs = [run for run in stage.args_of("RUN") if "apt-get install" in run]
    assert len(installs) == 1, "one apt-get install, fed by the list"
    assert destination in installs[0]
    # The install takes its names from the list only: no literal package beside it.
    assert all(word.startswith("-") for word in apt_install_words(installs[0]))
    image = packages_by(apt_filter(installs[0], str(ROOT / PACKAGE_LIST)))
    assert image == listed(PACKAGE_LIST)
    assert {"python3-rados", "python3-rbd", "python3-libvirt", "tini"} <= set(image)
    assert {"qemu-system-x86", "qemu-block-extra", "libvirt-daemon-system"} <= set(image)


def test_bootstrap_installs_the_run_time_and_the_dev_lists():
    assert sorted(bootstrap_packages()) == sorted(listed(PACKAGE_LIST) + listed(DEV_PACKAGE_LIST))


def test_the_lists_do_not_overlap_and_the_image_carries_no_local_stack_daemon():
    runtime, dev = listed(PACKAGE_LIST), listed(DEV_PACKAGE_LIST)
    assert len(set(runtime)) == len(runtime) and len(set(dev)) == len(dev)
    assert not set(runtime) & set(dev)
    local_stack_only = {"ceph-mon", "ceph-osd", "containerd", "mmdebstrap", "prometheus"}
    assert local_stack_only <= set(dev)


def test_the_build_stage_installs_nothing_outside_the_run_time_list():
    runtime = set(listed(PACKAGE_LIST))
    for stage in parse_dockerfile(DOCKERFILE.read_text())[:-1]:
        for run in stage.args_of("RUN"):
            named = {word for word in apt_install_words(run) if not word.startswith("-")}
            assert named <= runtime, named - runtime


def test_the_venv_sees_the_debian_bindings_and_holds_the_kovirt_wheel():
    runs = " && ".join(runtime_stage().args_of("RUN"))
    assert re.search(r"python3 -m venv --system-site-packages (\S+)", runs)
    assert re.search(r"pip install [^&]*\.whl", runs)
    assert "import rados, rbd, libvirt, kovirt" in runs


def test_the_image_runs_as_a_non_root_user_under_tini():
    stage = runtime_stage()
    user = stage.args_of("USER")[-1].split(":")[0]
    assert user not in {"0", "root"}
    assert f"--uid {user}" in " ".join(stage.args_of("RUN"))
    assert stage.args_of("ENTRYPOINT") == ['["/usr/bin/tini", "--"]']


def test_the_chart_runs_the_operator_as_the_image_user():
    deployment = (ROOT / "charts" / "kovirt" / "templates" / "deployment.yaml").read_text()
    user = runtime_stage().args_of("USER")[-1].split(":")[0]
    assert f"runAsUser: {user}" in deployment


def test_dockerignore_keeps_the_venv_and_git_history_out_of_the_context():
    rules = (ROOT / ".dockerignore").read_text().split()
    assert rules[rules.index("*") :][0] == "*", "allow-list: ignore everything first"
    copied = {
        args.split()[0] for args in parse_dockerfile(DOCKERFILE.read_text())[0].args_of("COPY")
    }
    for source in copied | {PACKAGE_LIST}:
        assert f"!{source.rstrip('/')}" in {rule.rstrip("/") for rule in rules}, source


def test_the_parser_sees_a_literal_package_beside_the_list():
    drifted = "RUN grep -v '^#' /tmp/apt-packages.txt | xargs apt-get install -y curl"
    assert apt_install_words(
        parse_dockerfile(f"FROM debian:bookworm\n{drifted}\n")[0].args_of("RUN")[0]
    ) == [
        "-y",
        "curl",
    ]
