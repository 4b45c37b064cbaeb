"""Serve a candidate: rewrite the models' configs and reload them through Triton's model-control API.

:class:`LocalServing` works on a scratch copy of the exported models (hard links, never the user's folders) served
by the local Triton in ``explicit`` mode: each candidate writes ``config.pbtxt`` (rendered from the protobuf) and
asks Triton to load the models whose config changed. :class:`RemoteServing` does the same to a running Triton
(``--url``, started with ``--model-control-mode=explicit``) by sending the config with the load request.
An accelerated variant is a version folder of its own in the scratch copy, chosen by the config's version policy.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2 as mc

from tritonize.repo_format.files import CONFIG_FILENAME, version_folders
from tritonize.repo_format.pbtxt import ParseError, read_config, render
from tune.errors import TuneError, TuneUsageError
from tune.knobs import Ensemble

#: How long one model may take to load.
LOAD_TIMEOUT_S = 300.0


def read_models(repository: Path, ensemble: str) -> tuple[Ensemble, dict[str, mc.ModelConfig]]:
    """The ensemble's roles and the configs of it and its steps, from an exported repository.

    Raises:
        TuneUsageError: The model is missing or is not a text ensemble of a tokenizer and an artifact.
    """
    try:
        configs = {ensemble: read_config(repository / ensemble)}
        for step in configs[ensemble].ensemble_scheduling.step:
            configs[step.model_name] = read_config(repository / step.model_name)
        return Ensemble.from_configs(ensemble, configs), configs
    except (OSError, ParseError) as error:
        raise TuneUsageError(f"Cannot read model '{ensemble}' in {repository}: {error}") from error
    except ValueError as error:
        raise TuneUsageError(str(error)) from error


def pin_version(config: mc.ModelConfig, version: int | None) -> mc.ModelConfig:
    """``config`` serving only ``version`` (``None``: the newest, as the export writes it)."""
    pinned = mc.ModelConfig()
    pinned.CopyFrom(config)
    if version is None:
        pinned.version_policy.CopyFrom(mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=1)))
    else:
        pinned.version_policy.CopyFrom(mc.ModelVersionPolicy(specific=mc.ModelVersionPolicy.Specific(
            versions=[version])))
    return pinned


class LocalServing:
    """A scratch copy of the ensemble's models, served by the local Triton in ``explicit`` mode.

    Attributes:
        repository: The scratch repository (hard links of the exported files, configs of its own).
        url: The server's HTTP address, once started.
    """

    def __init__(self, source: Path, roles: Ensemble, workdir: Path) -> None:
        """Copy the newest version of each model of ``roles`` from ``source`` into ``workdir/repository``."""
        self.repository = workdir / "repository"
        self.url = ""
        self._roles = roles
        self._server = None
        self.repository.mkdir(parents=True)
        for name in roles.models:
            folder = source / name
            target = self.repository / name
            target.mkdir()
            for entry in folder.iterdir():
                if entry.is_file():
                    shutil.copy2(entry, target / entry.name)
                elif entry.is_dir() and not entry.name.isdigit():  # a one-step model's warm-up inputs
                    shutil.copytree(entry, target / entry.name, copy_function=_link_or_copy)
            newest = version_folders(folder)
            if newest:
                shutil.copytree(newest[-1], target / newest[-1].name, copy_function=_link_or_copy)

    def artifact_version(self) -> int:
        """The newest version of the artifact model in the scratch copy."""
        return int(version_folders(self.repository / self._roles.artifact)[-1].name)

    def add_variant(self, files: Path) -> int:
        """Put a variant's version folder ``files`` beside the artifact's; return its version number."""
        version = self.artifact_version() + 1
        shutil.copytree(files, self.repository / self._roles.artifact / str(version), copy_function=_link_or_copy)
        return version

    def start(self) -> None:
        """Start the local Triton on the scratch copy and load the ensemble (its steps load with it).

        Raises:
            ServerError: Triton did not start.
            TuneError: A model did not load.
        """
        from server.local import LocalTriton

        self._server = LocalTriton(self.repository, model_control_mode="explicit")
        self._server.start()
        self.url = self._server.http_url
        self._load(self._roles.ensemble)

    def apply(self, configs: dict[str, mc.ModelConfig], changed: list[str]) -> None:
        """Write the changed configs and reload those models (the ensemble last).

        Raises:
            TuneError: A model did not load with its new config.
        """
        for name in changed:
            (self.repository / name / CONFIG_FILENAME).write_text(render(configs[name]))
        assert self._server is not None
        self._server.sync_repository()
        for name in sorted(changed, key=lambda n: n == self._roles.ensemble):
            self._load(name)

    def close(self) -> None:
        """Stop the server."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _load(self, name: str) -> None:
        import tritonclient.http as http

        client = http.InferenceServerClient(self.url.split("://")[-1], network_timeout=LOAD_TIMEOUT_S)
        try:
            client.load_model(name)
        except Exception as error:  # tritonclient raises its own InferenceServerException
            raise TuneError(f"Triton did not load '{name}' with the candidate's config: "
                            f"{str(error).splitlines()[0]}") from error
        finally:
            client.close()


class RemoteServing:
    """A running Triton (``--url``) in ``explicit`` mode; each candidate's configs go with its load requests."""

    def __init__(self, url: str, roles: Ensemble) -> None:
        """Talk to the Triton at ``url`` (``host:port`` or ``http://host:port``)."""
        self.url = url if "://" in url else f"http://{url}"
        self._roles = roles

    def start(self) -> None:
        """Nothing to start: the server runs already."""

    def apply(self, configs: dict[str, mc.ModelConfig], changed: list[str]) -> None:
        """Load each changed model with its new config (the ensemble last).

        Raises:
            TuneError: The server refused (not in explicit mode, or the config does not load).
        """
        import tritonclient.http as http

        client = http.InferenceServerClient(self.url.split("://")[-1], network_timeout=LOAD_TIMEOUT_S)
        try:
            for name in sorted(changed, key=lambda n: n == self._roles.ensemble):
                text = json.dumps(json_format.MessageToDict(configs[name], preserving_proto_field_name=True))
                try:
                    client.load_model(name, config=text)
                except Exception as error:  # tritonclient's InferenceServerException
                    raise TuneError(f"{self.url} did not load '{name}' with the candidate's config (is it "
                                    f"started with --model-control-mode=explicit?): "
                                    f"{str(error).splitlines()[0]}") from error
        finally:
            client.close()

    def close(self) -> None:
        """Nothing to stop; the last candidate stays loaded (load the winner with ``--write`` and a restart)."""


def remote_models(url: str, ensemble: str) -> tuple[Ensemble, dict[str, mc.ModelConfig]]:
    """The ensemble's roles and configs as the running server at ``url`` reports them.

    Raises:
        TuneUsageError: The model is not there or is not a text ensemble.
    """
    from client.connection import Connection, Endpoint
    from client.errors import ClientError

    try:
        with Connection(Endpoint.parse(url)) as connection:
            configs = {ensemble: connection.model_config(ensemble)}
            for step in configs[ensemble].ensemble_scheduling.step:
                configs[step.model_name] = connection.model_config(step.model_name)
        return Ensemble.from_configs(ensemble, configs), configs
    except ClientError as error:
        raise TuneUsageError(f"Cannot read model '{ensemble}' from {url}: {error}") from error
    except ValueError as error:
        raise TuneUsageError(str(error)) from error


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
