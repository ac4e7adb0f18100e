"""The one build step: a wheel carries the top-level folders the app serves and imports.

frontend/, service_worker/ and the brand packs of branding/ stay where they are in the checkout;
a built wheel gets copies of them in retorno/share/, where retorno.settings.DATA_ROOT finds them.
An editable install (make run) copies nothing: the checkout's folders are used as they are.
Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHARED = ("frontend", "service_worker", "branding")  # the folders retorno.settings.DATA_ROOT stands for


class BuildWithShare(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        share = Path(self.build_lib) / "retorno" / "share"
        shutil.rmtree(share, ignore_errors=True)  # nothing left from an earlier build in build/
        for name in SHARED:
            if not (ROOT / name).is_dir():
                raise SystemExit(f"{name}/ is missing: a wheel without it could not serve")
            shutil.copytree(ROOT / name, share / name, ignore=shutil.ignore_patterns("*.py", "__pycache__"))


setup(cmdclass={"build_py": BuildWithShare})
