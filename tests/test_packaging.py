"""A non-editable install carries templates, static files, SOPs, migrations and catalogs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def test_wheel_carries_everything_and_serves_pages(tmp_path):
    # Built from a copy: the build hook rewrites the catalogs, which tests running beside this one read.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".hypothesis",
            ".ruff_cache",
            "__pycache__",
            "*.mo",
            "instance",
            "test-artifacts",
            "build",
            "dist",
            "*.egg-info",
            "node_modules",
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(tmp_path.glob("crisis-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "crisis/templates/base.html",
        "crisis/static/css/app.css",
        "crisis/static/vendor/htmx/htmx.min.js",
        "crisis/migrations/env.py",
        "crisis/translations/id/LC_MESSAGES/messages.mo",
        "crisis/data/indonesia/provinces.csv",  # crisis units import-indonesia
        "crisis/data/indonesia/regencies.csv",
        "workers/celery_app.py",
    ):
        assert expected in names, expected
    assert any(n.startswith("crisis/sops/") and n.endswith(".yaml") for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run from the unpacked wheel only (dependencies from this venv), far from the source tree.
    script = (
        "import crisis, sys\n"
        "assert crisis.__file__.startswith(sys.argv[1]), crisis.__file__\n"
        "app = crisis.create_app({'TESTING': True, 'DATABASE_URL': 'sqlite://'})\n"
        "assert app.template_folder.startswith(sys.argv[1])\n"
        "page = app.test_client().get('/login').get_data(as_text=True)\n"
        "assert 'Masuk' in page, page[:300]\n"
        "assert app.test_client().get('/static/css/app.css').status_code == 200\n"
        "from crisis.units.indonesia import read_areas\n"
        "assert len(read_areas()) == 552\n"
        "from workers.cli import main\n"
        "main(['--help'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "CRISIS_INSTANCE_PATH": str(tmp_path / "i")},
    )
    assert result.returncode == 0, result.stderr
    assert "seed" in result.stdout and "scheduler" in result.stdout
