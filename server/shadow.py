"""A shadow model repository the bundled server can load: the user's models, adapters where a backend is missing.

Layout of the shadow, for a user repository ``R``:

* a model that runs no code of its own (an ensemble), or one the bundled server cannot serve anyway, is a
  symlink ``NAME -> R/NAME``;
* a model that runs on the Python backend is *mirrored*: real folders, a symlink for every file. The Python
  backend writes ``__pycache__`` beside the code it imports, and mirroring keeps that out of ``R``.
  ``config.pbtxt`` is a link too, unless its translation changed it (GPU instances on a machine without GPU);
* a model whose backend is missing (ONNX Runtime, libtorch) is mirrored with the adapter's ``config.pbtxt``
  and, in each version folder, the adapter (``model.py`` + ``tritonize_batching.py``) beside links to the
  user's files (``model.onnx``, ``model.onnx.data``, ``model.pt``): artifacts are linked, never copied.

The user's repository is only read. :meth:`ShadowRepository.sync` is idempotent and adds folders with one
rename each, so a server polling the shadow never sees a half-built version: call it again (``LocalTriton``
does, every second, in ``poll`` and ``explicit`` modes) and new, replaced or removed versions and models follow.
A version folder (or model folder) that appears after the first sync is only taken in once it is complete:
when a sync finds its files (names, sizes, modification times) as the previous sync found them. A version
copied or written in place (``cp -r``, an exporter without staging) is thus never served half-written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path

from server.config_rewrite import ADAPTER_FILENAME, Translation, translate
from server.errors import RepositoryError, RepositoryNotFoundError
from tritonize.repo_format.files import BATCHING_FILENAME, CONFIG_FILENAME
from tritonize.repo_format.pbtxt import render

_ADAPTERS = Path(__file__).parent / "adapters"
#: Written by the Python backend into the shadow; never mirrored, never removed by a sync.
_PYCACHE = "__pycache__"


def plan(repository: Path, gpu_count: int) -> list[Translation]:
    """How each model of ``repository`` is served, in name order (reads configs and version folders only).

    Raises:
        RepositoryNotFoundError: The repository is missing or not a folder.
        RepositoryError: It cannot be read.
    """
    if not repository.is_dir():
        raise RepositoryNotFoundError(f"Model repository {repository} does not exist or is not a folder; export a "
                                      f"model first (python -m export) or pass --repository.")
    try:
        folders = sorted((p for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.name)
        translations = []
        for folder in folders:
            config = folder / CONFIG_FILENAME
            text = config.read_text() if config.is_file() else None
            versions = tuple(sorted(int(v.name) for v in folder.iterdir() if _is_version(v)))
            translations.append(replace(translate(folder.name, text, gpu_count), versions=versions))
    except OSError as error:
        raise RepositoryError(f"Cannot read the model repository {repository}: {error}") from error
    return translations


class ShadowRepository:
    """The shadow of one user repository, kept in ``root`` (which this object owns).

    Attributes:
        source: The user's repository (resolved), never written.
        root: The shadow repository the server loads.
        gpu_count: GPUs visible to the server.
        translations: The plan of the last :meth:`sync`.
    """

    def __init__(self, source: Path, root: Path, gpu_count: int) -> None:
        self.source = source.resolve()
        self.root = root
        self.gpu_count = gpu_count
        self.translations: list[Translation] = []
        self._staging = root.parent / f".{root.name}.staging"
        self._lock = threading.Lock()
        self._synced = False
        self._seen: dict[str, tuple] = {}
        self._sources = {p.name: p.read_bytes() for p in _ADAPTERS.glob("*.py")}

    def sync(self) -> list[Translation]:
        """Bring the shadow in line with the user's repository; return the plan applied.

        Raises:
            RepositoryError: The user's repository cannot be read, or the shadow cannot be written.
        """
        with self._lock:
            translations = plan(self.source, self.gpu_count)
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                self._staging.mkdir(parents=True, exist_ok=True)
                wanted = {t.name for t in translations}
                for entry in list(self.root.iterdir()):
                    if entry.name not in wanted:
                        _remove(entry)
                seen, self._seen = self._seen, {}
                for translation in translations:
                    if self._complete(self.source / translation.name, self.root / translation.name, seen):
                        self._sync_model(translation, seen)
            except OSError as error:
                raise RepositoryError(f"Cannot build the shadow repository in {self.root}: {error}") from error
            self._synced = True
            self.translations = translations
            return translations

    def _complete(self, source: Path, target: Path, seen: dict[str, tuple]) -> bool:
        """Whether ``source`` may be mirrored: already in the shadow, first sync, or unchanged since the last.

        Records what it found in ``self._seen`` for the next sync to compare.
        """
        if not self._synced or target.exists() or target.is_symlink():
            return True
        key = str(source.relative_to(self.source))
        self._seen[key] = fingerprint(source)
        return seen.get(key) == self._seen[key]

    def _sync_model(self, translation: Translation, seen: dict[str, tuple]) -> None:
        source, target = self.source / translation.name, self.root / translation.name
        if not translation.python and translation.unchanged:
            self._link(target, source)
            return
        written = {} if translation.config is None else {CONFIG_FILENAME: render(translation.config).encode()}
        per_version = {}
        if translation.runtime is not None:
            per_version = {ADAPTER_FILENAME: self._sources[translation.runtime.adapter],
                           BATCHING_FILENAME: self._sources["batching.py"]}
        self._mirror(target, source, written, per_version, seen)

    def _mirror(self, folder: Path, source: Path, written: dict[str, bytes],
                per_version: dict[str, bytes], seen: dict[str, tuple]) -> None:
        """Make ``folder`` mirror ``source``: real folders, links to files, ``written`` files written.

        ``per_version`` files are written into every numeric subfolder. A folder that does not exist yet is
        built in the staging area and moved in with one rename.
        """
        if folder.is_symlink() or not folder.is_dir():
            staged = Path(tempfile.mkdtemp(prefix="mirror-", dir=self._staging))
            staged.chmod(0o755)
            self._fill(staged, source, written, per_version, seen)
            _remove(folder)
            os.rename(staged, folder)
        else:
            self._fill(folder, source, written, per_version, seen)

    def _fill(self, folder: Path, source: Path, written: dict[str, bytes], per_version: dict[str, bytes],
              seen: dict[str, tuple]) -> None:
        entries = {p.name: p for p in source.iterdir() if p.name != _PYCACHE and p.name not in written}
        for existing in list(folder.iterdir()):
            if existing.name != _PYCACHE and existing.name not in written and existing.name not in entries:
                _remove(existing)
        if folder.parent == self.root:  # a model already in the shadow: a new version waits until complete
            entries = {name: entry for name, entry in entries.items()
                       if not _is_version(entry) or self._complete(entry, folder / name, seen)}
        for name, content in written.items():
            self._write(folder / name, content)
        for name, entry in entries.items():
            if entry.is_dir():
                self._mirror(folder / name, entry, per_version if _is_version(entry) else {}, {}, seen)
            else:
                self._link(folder / name, entry)

    def _write(self, path: Path, content: bytes) -> None:
        """Write ``content`` with a rename, only when it differs (a changed mtime makes Triton reload)."""
        if path.is_file() and not path.is_symlink() and path.read_bytes() == content:
            return
        handle, temporary = tempfile.mkstemp(dir=self._staging)
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(temporary, path)

    def _link(self, path: Path, target: Path) -> None:
        """Make ``path`` a symlink to ``target`` with a rename (unless it already is one)."""
        if path.is_symlink() and os.readlink(path) == str(target):
            return
        temporary = self._staging / f"link-{uuid.uuid4().hex}"
        temporary.symlink_to(target, target_is_directory=target.is_dir())
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(temporary, path)


def fingerprint(folder: Path) -> tuple:
    """Every file and folder below ``folder`` with its size and modification time (``__pycache__`` left out)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != _PYCACHE)
        for name in sorted(filenames) + dirnames:
            path = Path(dirpath) / name
            with contextlib.suppress(OSError):
                stat = path.stat()
                found.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _is_version(path: Path) -> bool:
    return path.name.isdigit() and path.is_dir()


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
