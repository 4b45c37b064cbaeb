"""The Triton Inference Server 2.51 that ships in the nvidia-pytriton wheel: binary, libraries, Python backend."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from server.errors import BundleError

#: The bundled server's release (NGC 24.10); the Docker image and the exporter target the same one.
TRITON_VERSION = "2.51.0"

_INSTALL_HINT = "install it with: pip install 'tritonize[server]' (nvidia-pytriton==0.7.0)"


@dataclass(frozen=True)
class TritonBundle:
    """Paths inside the installed nvidia-pytriton wheel.

    Attributes:
        executable: The ``tritonserver`` binary.
        libraries: Shared libraries the binary and the Python-backend stub link (``nvidia_pytriton.libs``).
        backends: The wheel's backend folder (only ``python``: no ONNX Runtime or libtorch backend).
        stub: The Python-backend stub built for the running interpreter's Python version.
    """

    executable: Path
    libraries: Path
    backends: Path
    stub: Path

    @classmethod
    def find(cls) -> TritonBundle:
        """Locate the bundle of the installed wheel.

        Raises:
            BundleError: nvidia-pytriton is not installed, or has no stub for this Python.
        """
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise BundleError(f"The bundled Triton Inference Server is not installed: {_INSTALL_HINT}.")
        package = Path(next(iter(spec.submodule_search_locations)))
        root = package / "tritonserver"
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        bundle = cls(
            executable=root / "bin" / "tritonserver",
            libraries=package.parent / "nvidia_pytriton.libs",
            backends=root / "backends",
            stub=root / "python_backend_stubs" / python / "triton_python_backend_stub",
        )
        for path in (bundle.executable, bundle.libraries, bundle.backends / "python"):
            if not path.exists():
                raise BundleError(f"The bundled Triton Inference Server is incomplete ({path} is missing): "
                                  f"{_INSTALL_HINT}.")
        if not bundle.stub.is_file():
            raise BundleError(f"nvidia-pytriton has no Python-backend stub for Python {python} (it ships 3.8–3.13); "
                              f"run the server with one of those.")
        return bundle

    def prepare_backends(self, folder: Path) -> Path:
        """Copy the backend folder to ``folder`` with this interpreter's stub beside the Python backend.

        The Python backend starts ``triton_python_backend_stub`` from its own folder, so the stub that embeds
        this Python must lie there. The wheel's folder is left as it is.

        Returns:
            The folder to pass as ``--backend-directory``.
        """
        shutil.copytree(self.backends, folder, ignore=shutil.ignore_patterns("__pycache__"))
        stub = folder / "python" / self.stub.name
        shutil.copy2(self.stub, stub)
        stub.chmod(0o755)
        return folder

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for the server: its libraries on the loader path, this Python first on ``PATH``.

        The stub embeds libpython and finds its ``sys.prefix`` by looking up ``python3`` on ``PATH``, so the
        virtual environment that runs us (numpy, onnxruntime, torch, tokenizers) is the one models import from.
        """
        env = dict(os.environ if base is None else base)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(self.libraries), env.get("LD_LIBRARY_PATH")) if p)
        env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH")) if p)
        return env
