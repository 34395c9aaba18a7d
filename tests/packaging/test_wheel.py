"""The built wheel, installed (not editable) into a fresh venv, serves every page and static file
the services serve from the repository: nothing they need is left out of the package."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Pages rendered from templates without a database (the question form, the referral, the
# sign-ins). Routing's and audit's own pages need a signed-in person and their database (their
# /login sends people to intake's): every template is also read and parsed from the install.
PAGES = {
    "intake": ["/", "/voor-iemand-anders", "/verwijzen", "/staff/login"],
}
SERVICES = ("intake", "routing", "notify", "audit")
# Files besides the code that the package reads at run time.
DATA_GLOBS = (
    "services/*/web/static/**/*",
    "services/*/web/templates/**/*",
    "services/*/data/*.csv",
    "services/*/data/*.json",
    "services/*/migrations/*.mako",
    "opendeur/data/*",
    "contracts/*.json",
)

# Run inside the fresh venv: the apps as installed, through Starlette's test client (no lifespan:
# nothing connects to a broker or database).
PROBE = r"""
import importlib, json, sys
from pathlib import Path
from fastapi.testclient import TestClient
from jinja2 import Environment, FileSystemLoader
pages = json.loads(sys.argv[1])
out = {"files": {}}
for svc in ("intake", "routing", "notify", "audit"):
    module = importlib.import_module(f"services.{svc}.app")
    out["files"][svc] = module.__file__
    client = TestClient(module.app, raise_server_exceptions=False)
    static = Path(module.__file__).parent / "web" / "static"
    for f in sorted(p for p in static.rglob("*") if p.is_file()) if static.is_dir() else []:
        r = client.get("/static/" + f.relative_to(static).as_posix())
        out[f"{svc} /static/{f.relative_to(static).as_posix()}"] = [r.status_code, r.content.hex()]
    templates = Path(module.__file__).parent / "web" / "templates"
    env = Environment(loader=FileSystemLoader(templates)) if templates.is_dir() else None
    for t in sorted(p for p in templates.rglob("*") if p.is_file()) if env else []:
        name = t.relative_to(templates).as_posix()
        try:  # parsed, not compiled: each service registers its own filters
            env.parse(env.loader.get_source(env, name)[0])
            out[f"{svc} template {name}"] = "parsed"
        except Exception as exc:
            out[f"{svc} template {name}"] = repr(exc)
    for path in pages.get(svc, []):
        r = client.get(path, follow_redirects=False)
        out[f"{svc} {path}"] = [r.status_code, r.headers.get("content-type", ""), r.text]
print(json.dumps(out))
"""


def repo_files() -> set[str]:
    found = set()
    for pattern in DATA_GLOBS:
        for p in ROOT.glob(pattern):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py":
                found.add(p.relative_to(ROOT).as_posix())
    return found


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the fresh venv's python, its site-packages) with the wheel built from this tree."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: building writes build/ and *.egg-info next to the sources
    listed = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT).stdout.split(
        "\0"
    )
    for rel in listed:
        if rel and not rel.startswith("tests/") and (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((ROOT / rel).read_bytes())
    dist = tmp / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)])
    (wheel,) = dist.glob("opendeur-*.whl")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ]
    )
    site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    yield python, site


def probe_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENDEUR_", "PYTHON"))}
    env.update(
        # The dependencies from the project's venv; PYTHONPATH reads no .pth file, so its
        # editable install of this repository stays invisible.
        PYTHONPATH=sysconfig.get_path("purelib"),
        OPENDEUR_NATS_URL="nats://nats.invalid:4222",
        OPENDEUR_DATABASE_URL="postgresql://opendeur@db.invalid:5432/opendeur",
        OPENDEUR_SECRET_KEY="placeholder-for-the-wheel-test-never-served",
        OPENDEUR_DATA_DIR=str(tmp),
        OPENDEUR_LOG_LEVEL="WARNING",
    )
    return env


def test_the_wheel_holds_every_file_the_services_read(installed: tuple[Path, Path]) -> None:
    _, site = installed
    (info,) = site.glob("opendeur-*.dist-info")
    with open(info / "RECORD", newline="") as f:
        in_wheel = {row[0] for row in csv.reader(f)}
    expected = repo_files()
    assert any(p.endswith("console.js") for p in expected)  # what issue 16 found missing
    assert sorted(expected - in_wheel) == []


def test_the_installed_wheel_serves_every_page_and_static_file(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    python, site = installed
    result = run(
        [str(python), "-c", PROBE, json.dumps(PAGES)], cwd=tmp_path, env=probe_env(tmp_path)
    )
    got = json.loads(result.stdout.strip().splitlines()[-1])
    # The apps came from the fresh install, not from the repository.
    assert all(f.startswith(str(site)) for f in got.pop("files").values()), got
    for svc in SERVICES:
        static = ROOT / "services" / svc / "web" / "static"
        for f in sorted(p for p in static.rglob("*") if p.is_file()) if static.is_dir() else []:
            key = f"{svc} /static/{f.relative_to(static).as_posix()}"
            assert key in got, f"{key}: not in the installed package"
            status, body = got[key]
            assert status == 200, key
            assert bytes.fromhex(body) == f.read_bytes(), key
        templates = ROOT / "services" / svc / "web" / "templates"
        for t in (
            sorted(p for p in templates.rglob("*") if p.is_file()) if templates.is_dir() else []
        ):
            key = f"{svc} template {t.relative_to(templates).as_posix()}"
            assert got.get(key) == "parsed", (key, got.get(key))
    for svc, paths in PAGES.items():
        for path in paths:
            status, ctype, text = got[f"{svc} {path}"]
            assert status == 200 and ctype.startswith("text/html"), (svc, path, status, text[:300])
            # Every stylesheet and script a page links is served by the install too.
            for ref in {part.split('"')[0] for part in text.split('"/static/')[1:]}:
                assert f"{svc} /static/{ref}" in got and got[f"{svc} /static/{ref}"][0] == 200, (
                    svc,
                    path,
                    ref,
                )
