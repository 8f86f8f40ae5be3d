"""Render the Helm chart with the real ``helm`` binary and parse what it prints.

helm comes from ``scripts/install-helm.sh`` (into ``$DSA110_TOOLS``, default
``~/.cache/dsa110-stream/bin``) or from the PATH. Without it these tests fail under CI
(``CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "dsa110-stream"
RELEASE = "dsa"
TOOLS = Path(os.environ.get("DSA110_TOOLS", Path.home() / ".cache" / "dsa110-stream" / "bin"))


def find_helm() -> Path | None:
    """The pinned helm from scripts/install-helm.sh, else any helm on the PATH."""
    pinned = TOOLS / "helm"
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return pinned
    found = shutil.which("helm")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def helm() -> Path:
    path = find_helm()
    if path is None:
        message = (
            f"helm not found in {TOOLS} nor on the PATH: run scripts/install-helm.sh "
            "(builds helm v3 from the Go module proxy)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class HelmResult:
    returncode: int
    stdout: str
    stderr: str


def run_helm(helm: Path, *args: str) -> HelmResult:
    done = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=False
    )
    return HelmResult(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Manifests:
    """The objects of one ``helm template`` run."""

    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [
            obj for obj in self.of_kind(kind) if name is None or obj["metadata"]["name"] == name
        ]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def workloads(self) -> list[dict[str, Any]]:
        """Deployments, StatefulSets and Jobs: everything that runs a container."""
        return [o for o in self.objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]


def write_values(directory: Path, values: dict[str, Any]) -> Path:
    path = directory / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


Render = Callable[..., Manifests]
RenderError = Callable[..., str]


@pytest.fixture
def render(helm: Path, tmp_path: Path) -> Render:
    """``render(values_dict) -> Manifests``; fails the test if helm refuses."""

    def _render(values: dict[str, Any] | None = None) -> Manifests:
        args = ["template", RELEASE, str(CHART), "--namespace", "radio"]
        if values:
            args += ["--values", str(write_values(tmp_path, values))]
        result = run_helm(helm, *args)
        assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
        objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return Manifests(objects)

    return _render


@pytest.fixture
def render_error(helm: Path, tmp_path: Path) -> RenderError:
    """``render_error(values_dict) -> stderr``; fails the test if helm accepts the values."""

    def _render_error(values: dict[str, Any]) -> str:
        values_file = write_values(tmp_path, values)
        result = run_helm(helm, "template", RELEASE, str(CHART), "--values", str(values_file))
        assert result.returncode != 0, f"helm accepted {values}:\n{result.stdout[:2000]}"
        return result.stderr

    return _render_error
