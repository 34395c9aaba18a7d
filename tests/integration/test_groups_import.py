"""`opendeur groups import`: idempotent, refuses bad files whole, never deletes silently."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.support import ADMIN, SHARED_GROUPS_CSV, System


async def group_events(system: System) -> list[dict]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        r = await c.get(
            system.url("audit") + "/api/v1/audit/events", params={"type": "group.changed.v1"}
        )
        return r.json()


async def test_importing_the_same_file_twice_changes_nothing(
    system: System, tmp_path: Path
) -> None:
    csv = tmp_path / "groups.csv"
    csv.write_text(SHARED_GROUPS_CSV)
    await asyncio.sleep(1)  # let the first import's events reach audit
    before = len(await group_events(system))
    result = system.opendeur("groups", "import", str(csv))
    assert result.returncode == 0, result.stderr
    assert "joined 0, updated 0, unchanged 2" in result.stdout
    await asyncio.sleep(1)
    assert len(await group_events(system)) == before


async def test_a_file_with_a_bad_row_is_refused_whole(system: System, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        SHARED_GROUPS_CSV + "Nieuwe Groep,onbekend-onderwerp,Helmond,no,X,x@example.org,2\n"
    )
    result = system.opendeur("groups", "import", str(csv))
    assert result.returncode == 2
    assert "line 4" in result.stderr and "onbekend-onderwerp" in result.stderr
    assert "x@example.org" not in result.stderr
    async with httpx.AsyncClient() as c:
        names = {
            s["name"]
            for s in (await c.get(system.url("routing") + "/api/v1/directory")).json()["services"]
        }
    assert "Nieuwe Groep" not in names


async def test_a_group_left_out_of_a_reimport_is_not_deleted(
    system: System, tmp_path: Path
) -> None:
    only_rouw = tmp_path / "rouw.csv"
    only_rouw.write_text("\n".join(SHARED_GROUPS_CSV.splitlines()[:2]) + "\n")
    assert system.opendeur("groups", "import", str(only_rouw)).returncode == 0
    async with httpx.AsyncClient() as c:
        names = {
            s["name"]
            for s in (await c.get(system.url("routing") + "/api/v1/directory")).json()["services"]
        }
    assert "Online Angst" in names
