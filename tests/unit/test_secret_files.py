"""The secret-file rule against what real mounts give a non-root process: the kubelet's projected
secret (root:fsGroup 0440 behind `..data` symlinks) and compose's file secrets (the host file's
owner and mode). Reproduced as root, read by uid 10001 in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UID = GID = 10001
URL = "postgresql://opendeur_intake:pw@db:5432/opendeur"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv"
)


def read_as_service(path: Path, groups: tuple[int, ...] = ()) -> subprocess.CompletedProcess:
    """`Settings()` in a process of uid 10001 (with these supplementary groups), as a pod runs."""
    group_args = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HOME": "/tmp",
        "OPENDEUR_INTAKE_DATABASE_URL_FILE": str(path),
    }
    code = "from opendeur.settings import Settings; print(Settings().intake_database_url)"
    return subprocess.run(
        [
            "setpriv",
            "--reuid",
            str(UID),
            "--regid",
            str(GID),
            *group_args,
            sys.executable,
            "-c",
            code,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)
    for parent in tmp_path.parents:  # pytest's base directory is 0700
        if parent == Path("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o055)
    return tmp_path


def kubelet_secret(base: Path, mode: int, gid: int) -> Path:
    """A projected volume as the kubelet writes it: a timestamped directory with the files,
    `..data` pointing at it, and each key a symlink through `..data`."""
    volume = base / "secret"
    stamped = volume / "..2026_12_02_05_00_00.123456789"
    stamped.mkdir(parents=True)
    (stamped / "database_url").write_text(URL + "\n")
    os.chown(stamped / "database_url", 0, gid)
    (stamped / "database_url").chmod(mode)
    (volume / "..data").symlink_to(stamped.name)
    (volume / "database_url").symlink_to("..data/database_url")
    for d in (volume, stamped):
        os.chown(d, 0, gid)
        d.chmod(0o1777 if d == volume else 0o755)
    return volume / "database_url"


def test_a_kubelet_secret_with_fsgroup_and_mode_0440_is_read(mount: Path) -> None:
    path = kubelet_secret(mount, 0o440, gid=2000)
    r = read_as_service(path, groups=(2000,))  # fsGroup 2000 is a supplementary group
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == URL


def test_the_kubelets_default_mode_0644_is_refused_as_world_readable(mount: Path) -> None:
    path = kubelet_secret(mount, 0o644, gid=2000)
    r = read_as_service(path, groups=(2000,))
    assert r.returncode != 0
    assert "must not be readable by others" in r.stderr
    assert URL not in r.stderr + r.stdout


def test_mode_0400_owned_by_root_says_the_process_cannot_read_it(mount: Path) -> None:
    path = kubelet_secret(mount, 0o400, gid=0)
    r = read_as_service(path)
    assert r.returncode != 0
    assert "not readable by this process (uid 10001" in r.stderr
    assert "PermissionError" not in r.stderr


@pytest.mark.parametrize(
    ("owner", "group", "mode"),
    [(UID, GID, 0o600), (0, GID, 0o640), (0, GID, 0o440)],
    ids=["chowned-to-the-service", "root-owned-group-readable", "root-owned-0440"],
)
def test_compose_file_secrets_keep_the_hosts_owner_and_mode(
    mount: Path, owner: int, group: int, mode: int
) -> None:
    path = mount / "database_url"  # compose bind-mounts the host file as it is
    path.write_text(URL)
    os.chown(path, owner, group)
    path.chmod(mode)
    r = read_as_service(path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == URL


@pytest.mark.parametrize("mode", [0o604, 0o660, 0o666])
def test_world_readable_or_group_writable_files_are_refused(mount: Path, mode: int) -> None:
    path = mount / "database_url"
    path.write_text(URL)
    os.chown(path, UID, GID)
    path.chmod(mode)
    r = read_as_service(path)
    assert r.returncode != 0 and "_FILE must not be" in r.stderr
    assert URL not in r.stderr + r.stdout
