"""`kovirt crds`: write (or check) crds/*.yaml from the API models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kovirt.api.crd import all_crds, render
from kovirt.errors import KovirtError


def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the CRDs to.")] = Path(
        "crds"
    ),
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; fail if the folder differs from the models."),
    ] = False,
) -> None:
    """Generate crds/*.yaml from the pydantic models (the single source of the API)."""
    wanted = {name: render(crd) for name, crd in all_crds().items()}
    if check:
        stale = [n for n, text in wanted.items() if _read(out_dir / n) != text]
        extra = sorted(p.name for p in out_dir.glob("*.yaml") if p.name not in wanted)
        if stale or extra:
            raise KovirtError(
                f"{out_dir} is out of date ({', '.join(stale + extra)}); run `kovirt crds`"
            )
        typer.echo(f"{out_dir}: up to date ({len(wanted)} CRDs)")
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise KovirtError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        (out_dir / name).write_text(text)
        typer.echo(f"wrote {out_dir / name}")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
