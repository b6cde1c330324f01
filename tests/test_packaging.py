"""What ``pip install zkiz-corpus`` gets: a wheel holding every module of the package
(an editable install, as the tests run, would hide one left out)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from tests.support import ROOT


def test_the_wheel_holds_every_module(tmp_path):
    source = tmp_path / "source"  # a copy: a build writes into the tree it builds
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "zkiz_corpus", source / "zkiz_corpus")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    (wheel,) = tmp_path.glob("*.whl")
    held = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "zkiz_corpus").rglob("*.py")}
    assert modules - held == set()
