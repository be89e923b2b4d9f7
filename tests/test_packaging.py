"""A regular install (a wheel, not this checkout) carries what Scope reads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_wheel_carries_the_shipped_skills_and_themes(tmp_path):
    # built from a copy: setuptools leaves build/ and an egg-info in the folder it builds
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("scope_tui", "skills", "themes"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("scope_tui-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # the unpacked wheel's scope_tui, not this checkout's; its dependencies from this environment
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r}); import scope_tui\n"
        f"assert scope_tui.__file__.startswith({str(site)!r}), scope_tui.__file__\n"
        "from scope_tui.patterns import skill_files\n"
        "from scope_tui.tui.themes import load_themes\n"
        "print(sorted(skill_files.load_all(None)[0]))\n"
        "print(sorted(t.name for t in load_themes()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    names, themes = out.stdout.splitlines()
    assert names == str(["dag", "maker-checker", "map-reduce", "ralph", "rlm"])
    assert all(t in themes for t in ("scope-dark", "scope-light", "scope-high-contrast")), themes
