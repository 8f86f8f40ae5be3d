"""``helm lint`` accepts the chart, with its defaults and with every option turned on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helm.conftest import CHART, run_helm, write_values
from tests.helm.values_examples import EVERYTHING_ON


@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
def test_lint_defaults(helm: Path, strict: bool) -> None:
    args = ["lint", str(CHART), *(["--strict"] if strict else [])]
    result = run_helm(helm, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_lint_strict_with_every_option(helm: Path, tmp_path: Path) -> None:
    values = write_values(tmp_path, EVERYTHING_ON)
    result = run_helm(helm, "lint", str(CHART), "--strict", "--values", str(values))
    assert result.returncode == 0, result.stdout + result.stderr


def test_helm_is_version_3(helm: Path) -> None:
    result = run_helm(helm, "version", "--template", "{{.Version}}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("v3."), result.stdout
