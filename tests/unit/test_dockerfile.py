"""The Dockerfile: Debian base, exactly the project's package list, a non-root operator.

No Docker daemon runs here, so these tests read the Dockerfile; the package filter it
uses is run for real by bash on packaging/apt-packages.txt and compared with the one
scripts/bootstrap runs, so the image and the local stack cannot install different sets.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PACKAGE_LIST = "packaging/apt-packages.txt"


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


def bootstrap_packages() -> list[str]:
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    line = next(line for line in bootstrap.splitlines() if "grep" in line and PACKAGE_LIST in line)
    command = re.search(r"\$\((grep .*)\)", line).group(1)
    return packages_by(shlex.split(command.replace(PACKAGE_LIST, str(ROOT / PACKAGE_LIST))))


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


def test_the_image_installs_exactly_the_package_list_bootstrap_installs():
    stage = runtime_stage()
    copied = [args for args in stage.args_of("COPY") if PACKAGE_LIST in args]
    assert len(copied) == 1, "the runtime stage must COPY packaging/apt-packages.txt"
    destination = copied[0].split()[-1]
    installs = [run for run in stage.args_of("RUN") if "apt-get install" in run]
    assert len(installs) == 1, "one apt-get install, fed by the list"
    assert destination in installs[0]
    # The install takes its names from the list only: no literal package beside it.
    assert all(word.startswith("-") for word in apt_install_words(installs[0]))
    image = packages_by(apt_filter(installs[0], str(ROOT / PACKAGE_LIST)))
    assert sorted(image) == sorted(bootstrap_packages())
    assert {"python3-rados", "python3-rbd", "python3-libvirt", "tini"} <= set(image)


def test_the_build_stage_installs_nothing_outside_the_list():
    listed = set(bootstrap_packages())
    for stage in parse_dockerfile(DOCKERFILE.read_text())[:-1]:
        for run in stage.args_of("RUN"):
            named = {word for word in apt_install_words(run) if not word.startswith("-")}
            assert named <= listed, named - listed


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
