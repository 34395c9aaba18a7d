"""Browser tests in real Chromium (Playwright); skipped, with the reason, when it is not installed."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AXE = ARTIFACTS / "axe.min.js"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    reason = f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"
    print(f"\nskipping tests/browser: {reason}")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        await b.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core, fetched once with `npm pack` and cached under tests/artifacts/."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("axe-core is not cached and npm is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run(
                [npm, "pack", "axe-core@4", "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0:
                pytest.skip(f"npm pack axe-core failed: {done.stderr.strip()[:200]}")
            tgz = next(Path(tmp).glob("axe-core-*.tgz"))
            with tarfile.open(tgz) as tar:
                member = tar.extractfile("package/axe.min.js")
                assert member is not None
                ARTIFACTS.mkdir(exist_ok=True)
                AXE.write_bytes(member.read())
    return AXE.read_text()


async def serious_axe_violations(page: object, axe_source: str) -> list[str]:
    """axe-core's serious and critical findings on the page (WCAG 2.1 A/AA, best practice)."""
    await page.add_script_tag(content=axe_source)  # type: ignore[attr-defined]
    result = await page.evaluate(  # type: ignore[attr-defined]
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']})"
    )
    return [
        f"{v['id']}: {v['help']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
