"""tools/compile_package.py: bytecode added to a Lambda zip, sources and modes kept."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tools.compile_package import compile_zip


def test_every_module_gets_bytecode_that_python_uses(tmp_path: Path) -> None:
    package = tmp_path / "deployment.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "import lib.mod\nVALUE = lib.mod.VALUE\n")
        archive.writestr("lib/__init__.py", "")
        archive.writestr("lib/mod.py", "VALUE = 42\n")
        script = zipfile.ZipInfo("bin/run")
        script.external_attr = 0o755 << 16
        archive.writestr(script, "#!/bin/sh\n")
    assert compile_zip(package) == 3
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "out")
        mode = archive.getinfo("bin/run").external_attr >> 16
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    assert {
        "app.py",
        "lib/mod.py",
        f"lib/__pycache__/mod.{tag}.pyc",
        f"__pycache__/app.{tag}.pyc",
    } <= names
    assert mode == 0o755
    # a source edited after compiling still loads its bytecode: proof that the .pyc is used
    (tmp_path / "out" / "lib" / "mod.py").write_text("VALUE = 0\n")
    code = "import app; print(app.VALUE)"
    out = subprocess.run(
        [sys.executable, "-B", "-c", code],
        cwd=tmp_path / "out",
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "42"  # unchecked-hash bytecode wins over the edited source
