"""Write models into a Triton model repository: stage each model folder complete, then swap it in atomically."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from export.errors import RepositoryError, UsageError
from tritonize.processes import pid_alive
from tritonize.repo_format.files import CONFIG_FILENAME, version_folders
from tritonize.repo_format.pbtxt import ParseError, read_config, render

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelFolder:
    """One model to write.

    Attributes:
        config: Its Triton config (``config.name`` is the folder name).
        version_files: Files of the version folder: name → source file to copy, or content.
        root_files: Files beside ``config.pbtxt`` (label files, warm-up inputs): relative path → content.
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
    return [int(p.name) for p in version_folders(model_dir)]


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


#: Where :func:`swap_in` moves retired models inside the staging folder (no model name starts with a dot).
RETIRED_FOLDER = ".retired"
#: Prefix of the staging folders beside the repository (``.<repository>.staging-<pid>-<random>``).
STAGING_PREFIX = ".{repository}.staging-"


def retired_models(repository: Path, models: list[ModelFolder]) -> list[str]:
    """The models that the ensembles ``models`` replace called and nothing will call once they are swapped in.

    A replaced ensemble's steps that this write does not write again, and that no other ensemble of the
    repository (live and kept, or new) calls: exporting ``NAME`` as the one-step model over an ensemble export
    retires ``NAME_tokenizer`` and ``NAME_onnx``. Models no replaced ensemble called are never retired.
    """
    written = {model.config.name for model in models}
    live = _live_configs(repository.resolve())
    replaced_steps = {step for name in written & live.keys() for step in _steps(live[name])}
    still_called = {step for name, config in live.items() if name not in written for step in _steps(config)}
    still_called |= {step for model in models for step in _steps(model.config)}
    return sorted(name for name in replaced_steps - written - still_called if name in live)


def write_models(repository: Path, models: list[ModelFolder], version: int) -> list[Path]:
    """Stage every model folder complete next to the repository, then swap each one in with one rename.

    What holds, even for ``kill -9`` at any point: every model folder is either entirely its old content or
    entirely its new one (config, label files, every version), never a mix and never without its config.
    Each staged folder holds the new config and version plus hard links of the versions it keeps, and
    replaces the live folder with one ``renameat2(RENAME_EXCHANGE)`` (a plain rename for a new model). Models
    are swapped one after another, so a crash between two swaps leaves some models new and others old. Where
    the file system cannot exchange atomically the swap takes two renames, and a crash between them leaves
    the model's old folder in the staging folder. Ctrl-C is deferred during the swaps; staging folders of
    dead exports are removed by the next export.

    Returns:
        The files now in the repository that this call wrote.
    """
    retire = retired_models(repository, models)
    with staged_models(repository, models, version) as staging:
        return swap_in(staging, repository, models, version, retire)


@contextlib.contextmanager
def staged_models(repository: Path, models: list[ModelFolder], version: int) -> Iterator[Path]:
    """Stage ``models`` complete (and flushed to disk) in a folder beside ``repository``; remove it at the end.

    The staging folder is itself a model repository holding only these models, their new version and the
    versions they keep: what the repository will serve once :func:`swap_in` has run (see :func:`write_models`).

    Raises:
        RepositoryError: The staging folder cannot be written.
    """
    repository = repository.resolve()
    try:
        repository.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(repository)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX.format(repository=repository.name)}{os.getpid()}-",
                                        dir=repository.parent))
    except OSError as error:
        raise RepositoryError(f"Could not write the model repository {repository}: {error}") from error
    try:
        try:
            for model in models:
                _stage(staging, model, version, repository / model.config.name)
            _sync(staging)
        except OSError as error:
            raise RepositoryError(f"Could not write the model repository {repository}: {error}") from error
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def swap_in(staging: Path, repository: Path, models: list[ModelFolder], version: int,
            retire: Sequence[str] = ()) -> list[Path]:
    """Swap each staged model folder into ``repository`` (see :func:`write_models`); return the files written.

    ``retire`` (from :func:`retired_models`): model folders moved out of the repository, each with one rename,
    after the swaps, so no ensemble swapped in ever lacks a step; the staging folder's removal deletes them.

    Raises:
        RepositoryError: A folder cannot be swapped in.
    """
    repository = repository.resolve()
    try:
        with _deferred_interrupt():
            repository.mkdir(exist_ok=True)
            for model in models:
                _swap(staging / model.config.name, repository / model.config.name)
            if retire:
                (staging / RETIRED_FOLDER).mkdir()
            for name in retire:
                os.rename(repository / name, staging / RETIRED_FOLDER / name)
            _fsync_dir(repository)
        return sorted(p for model in models for p in (repository / model.config.name).rglob("*")
                      if p.is_file() and _written(p, repository / model.config.name, version))
    except OSError as error:
        raise RepositoryError(f"Could not write the model repository {repository}: {error}") from error


def remove_stale_staging(repository: Path) -> list[Path]:
    """Remove the staging folders of exports into ``repository`` whose process is gone; return them."""
    prefix = STAGING_PREFIX.format(repository=repository.name)
    removed = []
    for path in repository.parent.glob(f"{prefix}*"):
        pid = path.name[len(prefix):].split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _live_configs(repository: Path) -> dict[str, mc.ModelConfig]:
    """The readable configs of the repository's model folders, by folder name (none if it does not exist)."""
    configs = {}
    for folder in repository.iterdir() if repository.is_dir() else ():
        try:
            configs[folder.name] = read_config(folder)
        except (OSError, ParseError):  # not a model folder, or not one this can read: never retired
            continue
    return configs


def _steps(config: mc.ModelConfig) -> set[str]:
    """The models an ensemble config calls (none for other models)."""
    return {step.model_name for step in config.ensemble_scheduling.step}


def _stage(staging: Path, model: ModelFolder, version: int, live: Path) -> None:
    """The model's complete new folder: new config, root files and version, hard links of kept versions."""
    folder = staging / model.config.name
    version_dir = folder / str(version)
    version_dir.mkdir(parents=True)
    for kept in version_folders(live):
        if kept.name != str(version):
            shutil.copytree(kept, folder / kept.name, symlinks=True, copy_function=_link_or_copy)
    (folder / CONFIG_FILENAME).write_text(render(model.config))
    for name, content in model.root_files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    for name, source in model.version_files.items():
        if isinstance(source, bytes):
            (version_dir / name).write_bytes(source)
        else:
            shutil.copy2(source, version_dir / name)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _sync(root: Path) -> None:
    """Flush every staged file and folder to disk, so a swapped-in folder survives a power cut complete."""
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(folder))


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _swap(staged: Path, target: Path) -> None:
    """Put ``staged`` at ``target`` in one step; the old folder, if any, ends up at ``staged``."""
    if not target.exists():
        os.rename(staged, target)
    elif not _exchange(staged, target):
        old = staged.with_name(staged.name + ".old")
        os.rename(target, old)
        os.rename(staged, target)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with Linux's ``renameat2(RENAME_EXCHANGE)``; ``False`` where unsupported."""
    libc = _libc()
    if libc is None:
        return False
    result = libc.renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(second))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.renameat2  # noqa: B018 - glibc 2.28+
    except (OSError, AttributeError):
        return None
    return libc


def _written(path: Path, model_dir: Path, version: int) -> bool:
    relative = path.relative_to(model_dir).parts
    return len(relative) == 1 or not relative[0].isdigit() or relative[0] == str(version)


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
