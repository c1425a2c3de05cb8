"""The house: the library never imports the app room or Streamlit, and every module stays short."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "invmel_core"
APP_ROOM = LIBRARY / "app"
MAX_MODULE_LINES = 420


def library_modules() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if APP_ROOM not in p.parents and "assets" not in p.parts)


def imported_names(path: Path) -> set[str]:
    """Every module name an ``import`` or ``from … import`` in ``path`` names, lazy ones in functions too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", library_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_library_module_names_the_app_room_or_streamlit(path):
    bad = sorted(n for n in imported_names(path)
                 if n.startswith(("invmel_core.app", "streamlit", "pages")))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: the library must work without the app"


def test_importing_the_library_and_its_command_lines_loads_no_app_code():
    """Run in a fresh interpreter: importing every library module (the CLI and batch included)
    leaves Streamlit and ``invmel_core.app`` unloaded."""
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
               for p in library_modules() if p.name != "__main__.py"]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit' or m.startswith('invmel_core.app'))\n"
            "print(loaded)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_every_room_is_a_package_with_a_purpose():
    for room in sorted(p for p in LIBRARY.iterdir() if p.is_dir() and not p.is_symlink() and p.name != "__pycache__"):
        init = room / "__init__.py"
        assert init.is_file(), f"{room.name}/ has no __init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{room.name}/__init__.py says nothing of its room"


@pytest.mark.parametrize("folder", ["invmel_core", "pages"])
def test_no_module_is_much_over_400_lines(folder):
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
            if "assets" not in p.parts and (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these modules: {long}"


def test_the_version_has_one_home():
    import invmel_core

    text = (ROOT / "pyproject.toml").read_text()
    assert 'version = {attr = "invmel_core.__version__"}' in text
    assert invmel_core.__version__.count(".") == 2


def test_every_exported_name_has_an_example_and_see_also():
    """The public face: each name in ``invmel_core.__all__`` (but the registries, which are
    dicts) says how to use it and where to look next, numpy-style."""
    import inspect

    import invmel_core

    missing = {}
    for name in invmel_core.__all__:
        obj = getattr(invmel_core, name)
        if isinstance(obj, dict):
            continue
        doc = inspect.getdoc(obj) or ""
        lacks = [part for part in ("Examples", "See Also") if f"{part}\n--------" not in doc
                 and f"{part}\n{'-' * len(part)}" not in doc]
        if lacks:
            missing[name] = lacks
    assert not missing, missing
