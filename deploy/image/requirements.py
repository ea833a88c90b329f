"""Write the image's requirement lists, pinned to the versions installed in this venv.

The lists are ethos itself, its ``[project] dependencies`` (pyproject.toml, the one list) and
everything they need, walked through the installed distributions' metadata with the markers
evaluated for the image's Python (Debian's 3.11.2 is not the venv's 3.11.x: redis, for one,
needs async-timeout below 3.11.3). The versions are the ones this venv was tested with.

    .venv/bin/python deploy/image/requirements.py --out DIR --python-full-version 3.11.2

writes, one ``name==version`` line per distribution, sorted:

- ``DIR/runtime.txt``: the runtime stage's venv, leaving out the distributions named in
  ``[tool.ethos.image] exclude`` and whatever is reachable only through them (torch,
  sentence-transformers and transformers: the runtime runs the ONNX export of the embedding
  model, made at build time);
- ``DIR/export.txt``: the export stage's venv, the whole project with torch;
- ``DIR/prune.txt``: the paths under site-packages that the runtime stage deletes
  (``[tool.ethos.image] prune``).

Both stages install their list with ``pip install --no-index --no-deps``: nothing is resolved
during the build. A requirement that applies only to the image's Python, so is not installed
here, is written as its specifier (``async-timeout>=4.0.3``); it must need nothing itself.
Exits 1 with one line when a requirement of this Python is not installed here (run
``make install`` first) or a prune path is not a plain relative path.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def target_environment(python_full_version: str) -> dict[str, str]:
    """This machine's marker environment with the image's Python version."""
    env = dict(default_environment())
    env["python_full_version"] = python_full_version
    env["python_version"] = ".".join(python_full_version.split(".")[:2])
    return env


def _applies(req: Requirement, extras: set[str], env: dict[str, str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**env, "extra": e}) for e in ({""} | extras))


def closure(dependencies: list[str], exclude: set[str], env: dict[str, str]) -> dict[str, str]:
    """``{canonical name: "==installed version" or the specifier}`` of ``dependencies`` and of
    what they require under ``env``, not entering the distributions of ``exclude``."""
    pinned: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    todo = [r for r in map(Requirement, dependencies) if _applies(r, set(), env)]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in exclude:
            continue
        wanted = set(req.extras)
        if name in pinned and wanted <= extras_seen[name]:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            here = target_environment(sys.version.split()[0])
            if req.marker is not None and not _applies(req, set(), here):
                pinned[name] = str(req.specifier)  # only the image's Python needs it
                extras_seen[name] = wanted
                continue
            raise SystemExit(f"error: {req.name} is not installed in {sys.prefix}; run `make install` first") from None
        pinned[name] = f"=={dist.version}"
        extras_seen[name] = extras_seen.get(name, set()) | wanted
        for line in dist.requires or []:
            sub = Requirement(line)
            if _applies(sub, extras_seen[name], env):
                todo.append(sub)
    return pinned


def prune_paths(paths: list[str]) -> list[str]:
    """The prune list, checked: relative paths that stay under site-packages."""
    for p in paths:
        parts = Path(p).parts
        if not parts or Path(p).is_absolute() or ".." in parts:
            raise SystemExit(f"error: [tool.ethos.image] prune: {p!r} is not a relative path under site-packages")
    return paths


def _write(path: Path, pins: dict[str, str]) -> None:
    path.write_text("".join(f"{n}{spec}\n" for n, spec in sorted(pins.items())))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    ap.add_argument("--out", type=Path, required=True, help="directory for the lists")
    ap.add_argument("--python-full-version", required=True, help="the image's Python, e.g. 3.11.2")
    args = ap.parse_args(argv)
    doc = tomllib.loads(args.pyproject.read_text())
    project = doc["project"]
    image = doc["tool"]["ethos"]["image"]
    env = target_environment(args.python_full_version)
    exclude = {canonicalize_name(n) for n in image["exclude"]}
    me = {canonicalize_name(project["name"]): f"=={project['version']}"}
    args.out.mkdir(parents=True, exist_ok=True)
    _write(args.out / "runtime.txt", {**closure(project["dependencies"], exclude, env), **me})
    _write(args.out / "export.txt", {**closure(project["dependencies"], set(), env), **me})
    (args.out / "prune.txt").write_text("".join(f"{p}\n" for p in prune_paths(image.get("prune", []))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
