"""The files in deploy/ describe a service that can run: the unit passes systemd's own check,
and the container build copies what the package needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("newshound")
    assert command.exists(), "the package's console script is not installed"
    unit = (REPO / "deploy" / "newshound.service").read_text()
    assert "ExecStart=/opt/newshound/bin/newshound run" in unit
    local = tmp_path / "newshound.service"
    local.write_text(unit.replace("/opt/newshound/bin/newshound", str(command)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # The unit's user does not exist on a build machine; that is installation's job.
        if line.strip() and "newshound" in line and "User" not in line
    ]
    assert problems == [], problems


def test_container_file_copies_what_exists() -> None:
    text = (REPO / "deploy" / "Containerfile").read_text()
    copied = [
        part
        for line in text.splitlines()
        if line.startswith("COPY ")
        for part in line.split()[1:-1]
    ]
    assert copied and all((REPO / part).exists() for part in copied), copied
    assert 'CMD ["run"]' in text and "STOPSIGNAL SIGTERM" in text
