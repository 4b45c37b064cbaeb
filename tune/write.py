"""``--write``: the winner into the repository as a new version of the models whose config it changes."""

from __future__ import annotations

from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from export.repository import ModelFolder, choose_version, write_models
from tritonize.repo_format.files import CONFIG_FILENAME, version_folders
from tune.errors import TuneError
from tune.knobs import Ensemble, Knobs, apply_knobs, changed_models


def winner_folders(repository: Path, roles: Ensemble, configs: dict[str, mc.ModelConfig], knobs: Knobs,
                   variant_files: Path | None) -> list[ModelFolder]:
    """The models to write: each one whose config the winner changes (or whose artifact it swaps), complete.

    Each keeps the files of its newest version (the variant's, for a swapped artifact) and its root files.

    Raises:
        TuneError: A version folder holds sub-folders (not written by export).
    """
    new = apply_knobs(configs, roles, knobs)
    names = changed_models(configs, new)
    if variant_files is not None and roles.artifact not in names:
        names.append(roles.artifact)
    folders = []
    for name in names:
        model_dir = repository / name
        versions = version_folders(model_dir)
        source = variant_files if name == roles.artifact and variant_files is not None else \
            (versions[-1] if versions else None)
        files: dict[str, Path | bytes] = {}
        if source is not None:
            for entry in sorted(source.iterdir()):
                if entry.is_dir():
                    if entry.name == "__pycache__":
                        continue
                    raise TuneError(f"{entry} is a folder; tune writes only flat version folders, as export does")
                files[entry.name] = entry
        root = {p.relative_to(model_dir).as_posix(): p.read_bytes() for p in model_dir.rglob("*")
                if p.is_file() and p.name != CONFIG_FILENAME and not p.relative_to(model_dir).parts[0].isdigit()}
        folders.append(ModelFolder(new[name], files, root))
    return folders


def write_winner(repository: Path, roles: Ensemble, configs: dict[str, mc.ModelConfig], knobs: Knobs,
                 variant_files: Path | None = None) -> tuple[int, list[str]]:
    """Write the winner atomically (:func:`export.repository.write_models`); return the version and the models.

    Nothing is written when the winner is the export's own config.

    Raises:
        RepositoryError: The repository cannot be written.
    """
    folders = winner_folders(repository, roles, configs, knobs, variant_files)
    if not folders:
        return 0, []
    names = [f.config.name for f in folders]
    version = choose_version(repository, names, None, False)
    write_models(repository, folders, version)
    return version, names
