"""The direction of imports (issue 16, item 3): contracts <- runtime (opendeur/) <- services <- CLI."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = ("contracts", "opendeur", "services")

# The CLI sits on top of the services and may import them (`python -m opendeur` is the CLI).
CLI = "opendeur/cli.py"
MAIN = "opendeur/__main__.py"
# The dev tools (bench, chaos, audit's read benchmark) sit on top of the services, like the CLI;
# no service or runtime module imports them.
DEVTOOLS = "opendeur/devtools/"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in the file, relative ones resolved; also string
    arguments of importlib.import_module / __import__ naming one of our packages."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from services import intake` names a service through the package.
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((node.lineno, arg.value))
                elif isinstance(arg, ast.JoinedStr) and arg.values:
                    head = arg.values[0]
                    if isinstance(head, ast.Constant) and isinstance(head.value, str):
                        found.append((node.lineno, head.value.rstrip(".") + ".*"))
    return found


def sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def top(module: str) -> str:
    return module.split(".")[0]


def service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def service_violations() -> list[str]:
    found = []
    for path in sources("services"):
        own = path.relative_to(ROOT / "services").parts[0]
        for line, module in imports(path):
            other = service_of(module)
            if other is not None and other != own:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def runtime_violations() -> list[str]:
    found = []
    for path in sources("opendeur"):
        rel = path.relative_to(ROOT).as_posix()
        if rel in (CLI, MAIN) or rel.startswith(DEVTOOLS):
            continue
        found += [f"{rel}:{line} imports {m}" for line, m in imports(path) if top(m) == "services"]
    return found


def contracts_violations() -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources("contracts")
        for line, module in imports(path)
        if top(module) in ("opendeur", "services")
    ]


def violations() -> dict[str, list[str]]:
    return {
        "service": service_violations(),
        "runtime": runtime_violations(),
        "contracts": contracts_violations(),
    }


def test_no_service_imports_another_service() -> None:
    assert violations()["service"] == []


def test_the_runtime_imports_no_service_except_the_cli() -> None:
    assert violations()["runtime"] == []


def test_contracts_import_nothing_of_ours() -> None:
    assert violations()["contracts"] == []


def test_the_check_sees_what_it_must_refuse(tmp_path: Path, monkeypatch) -> None:
    """The same walk over a planted tree finds each kind of wrong import (relative ones too)."""
    import tests.unit.test_layering as layering

    for rel, text in {
        "services/__init__.py": "",
        "services/a/__init__.py": "",
        "services/a/x.py": "from services.b import store\n",
        "services/a/y.py": "from services import b\n",
        "services/a/z.py": "from ..b import store\n",
        "services/b/__init__.py": "",
        "services/b/store.py": "from services.b import other\nimport importlib\n"
        "importlib.import_module('services.b.x')\n",
        "opendeur/__init__.py": "",
        "opendeur/runtime.py": "import importlib\nimportlib.import_module(f'services.{name}.app')\n",
        "opendeur/cli.py": "from services.a import x\n",
        "contracts/__init__.py": "",
        "contracts/events.py": "from opendeur.settings import Settings\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    monkeypatch.setattr(layering, "ROOT", tmp_path)
    got = layering.violations()
    assert sorted({v.split(":")[0] for v in got["service"]}) == [
        "services/a/x.py",
        "services/a/y.py",
        "services/a/z.py",
    ]
    assert got["runtime"] == ["opendeur/runtime.py:2 imports services.*"]
    assert {v.split(" imports ")[0] for v in got["contracts"]} == {"contracts/events.py:1"}
