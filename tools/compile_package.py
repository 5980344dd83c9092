"""Add bytecode to the Lambda zip that `chalice package` made.

Chalice ships sources only and Lambda cannot write `__pycache__` under /var/task, so every
cold start would compile every module again. The .pyc files are compiled with unchecked
hashes (valid whatever the files' timestamps after unzipping) by this interpreter, which must
be the Lambda runtime's Python version (chalice picks the runtime from it too).

    python -m tools.compile_package .run/package/deployment.zip
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path


def compile_zip(path: Path) -> int:
    """Rewrite `path` with a .pyc beside every module; returns how many were added."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(path) as archive:
            archive.extractall(root)
            modes = {info.filename: info.external_attr for info in archive.infolist()}
        before = set(root.rglob("*.pyc"))
        compileall.compile_dir(
            root,
            quiet=1,
            workers=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        added = set(root.rglob("*.pyc")) - before
        rebuilt = path.with_suffix(".tmp")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                name = file.relative_to(root).as_posix()
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = modes.get(name, 0o644 << 16)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, file.read_bytes())
        rebuilt.replace(path)
    return len(added)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="the deployment.zip of chalice package")
    args = parser.parse_args(argv)
    count = compile_zip(args.zip)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    print(f"{args.zip}: {count} modules compiled for Python {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
