"""Write models into a Triton model repository atomically: stage in a temp dir, then rename into place."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from export.errors import RepositoryError, UsageError
from export.triton_config import CONFIG_FILENAME, render

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelFolder:
    """One model to write.

    Attributes:
        config: Its Triton config (``config.name`` is the folder name).
        version_files: Files of the version folder: name → source file to copy, or content.
        root_files: Files beside ``config.pbtxt`` (label files): name → content.
    """

    config: mc.ModelConfig
    version_files: dict[str, Path | bytes] = field(default_factory=dict)
    root_files: dict[str, bytes] = field(default_factory=dict)


def check_name(name: str) -> str:
    """Refuse model names Triton or the file system would misread (path separators, dots, spaces)."""
    if not _NAME.match(name) or "/" in name or "\\" in name:
        raise UsageError(
            f"Invalid model name '{name}': use letters, digits, '_', '-' and '.', starting with a letter or digit "
            f"(no path separators)."
        )
    return name


def existing_versions(model_dir: Path) -> list[int]:
    """Numeric version folders of a model, ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def choose_version(repository: Path, names: list[str], version: int | None, force: bool) -> int:
    """The version to write: the one asked for, the newest (``force`` alone), or one past the newest of ``names``.

    The configs serve only each model's newest version (``version_policy: latest 1``), so a version below a
    model's newest would be written and never served: that is refused.

    Raises:
        RepositoryError: The asked version exists and ``force`` is off, or it is older than what is served.
    """
    taken = {name: existing_versions(repository / name) for name in names}
    newest = max((v for versions in taken.values() for v in versions), default=0)
    if version is None:
        return max(newest, 1) if force else newest + 1
    if version < 1:
        raise UsageError(f"Invalid version {version}: versions start at 1.")
    shadowed = [(name, versions[-1]) for name, versions in taken.items() if versions and versions[-1] > version]
    if shadowed:
        name, served = shadowed[0]
        raise RepositoryError(
            f"Version {version} would never be served: '{name}' has version {served}, and Triton serves only the "
            f"newest (version_policy latest 1). Pass --force without --version to replace version {served}, "
            f"or leave out --version to add version {newest + 1}."
        )
    clashes = [name for name, versions in taken.items() if version in versions]
    if clashes and not force:
        raise RepositoryError(
            f"Version {version} of '{clashes[0]}' already exists in {repository}; "
            f"pass --force to replace it, or leave out --version to add a new one."
        )
    return version


def write_models(repository: Path, models: list[ModelFolder], version: int) -> list[Path]:
    """Stage every model folder next to the repository, then move them in with renames.

    A crash or Ctrl-C before the final renames leaves the repository as it was; the renames themselves run
    with Ctrl-C deferred. Existing versions of other numbers are kept; ``config.pbtxt`` and label files are
    replaced atomically.

    Returns:
        The files now in the repository that this call wrote.
    """
    repository = repository.resolve()
    repository.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{repository.name}.staging-", dir=repository.parent))
    try:
        for model in models:
            _stage(staging, model, version)
        with _deferred_interrupt():
            repository.mkdir(exist_ok=True)
            for model in models:
                _commit(staging, repository, model.config.name, version)
        return sorted(p for model in models for p in (repository / model.config.name).rglob("*")
                      if p.is_file() and _written(p, repository / model.config.name, version))
    except OSError as error:
        raise RepositoryError(f"Could not write the model repository {repository}: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage(staging: Path, model: ModelFolder, version: int) -> None:
    folder = staging / model.config.name
    version_dir = folder / str(version)
    version_dir.mkdir(parents=True)
    (folder / CONFIG_FILENAME).write_text(render(model.config))
    for name, content in model.root_files.items():
        (folder / name).write_bytes(content)
    for name, source in model.version_files.items():
        if isinstance(source, bytes):
            (version_dir / name).write_bytes(source)
        else:
            shutil.copy2(source, version_dir / name)


def _commit(staging: Path, repository: Path, name: str, version: int) -> None:
    staged, target = staging / name, repository / name
    if not target.exists():
        os.rename(staged, target)
        return
    old = target / str(version)
    if old.exists():
        os.rename(old, staging / f"{name}.replaced")
    os.rename(staged / str(version), target / str(version))
    for item in staged.iterdir():
        if item.is_file():
            os.replace(item, target / item.name)


def _written(path: Path, model_dir: Path, version: int) -> bool:
    relative = path.relative_to(model_dir).parts
    return len(relative) == 1 or relative[0] == str(version)


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Hold back SIGINT until the block ends, so a Ctrl-C cannot split the renames."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt
