"""The Python-backend model files run in the image's Pythons (3.10 for 24.09/24.10, 3.12 from 24.11 on).

Syntax: every file the exporter copies into a served version folder compiles under each image Python that this
machine has (pyenv's ``python3.10`` / ``python3.12``), else ruff checks it with that target version. Behaviour:
in a virtual environment of that Python with exactly ``docker/requirements.txt`` (numpy, tokenizers) and the
onnxruntime the Dockerfile installs (the ONNX Runtime of the newest release with that Python), the encoder the
tokenizer model runs gives the arrays it gives here, and the one-step model's ``model.py`` gives the outputs it
gives here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import export.python_models
from export.release_check import cache_root
from tritonize.releases import RELEASES
from tritonize.repo_format import image_preprocessing, multi_vector, nli_zero_shot, tokenizer_encoding
from tritonize.repo_format.files import IMAGE_PREPROCESSING_FILENAME

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "docker" / "requirements.txt"
PYTHONS = sorted({r.python for r in RELEASES if r.confirmed}, key=lambda v: tuple(map(int, v.split("."))))
#: The onnxruntime an image of each Python gets: its newest release's ONNX Runtime (ARG ONNXRUNTIME_VERSION).
ONNXRUNTIME = {r.python: r.onnxruntime for r in RELEASES if r.confirmed}
#: Every file the exporter copies beside a Python-backend model (tritonize_tokenizer.py is tokenizer_encoding.py).
MODEL_FILES = [*sorted(Path(export.python_models.__file__).parent.glob("*_model.py")),
               Path(tokenizer_encoding.__file__), Path(image_preprocessing.__file__), Path(nli_zero_shot.__file__),
               Path(multi_vector.__file__)]
TEXTS = ["Hello, Triton!", "a longer sentence with several more tokens in it", ""]

_ENCODE = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import tritonize_tokenizer as encoding
encoder = encoding.TextEncoder.from_file(sys.argv[2], ["input_ids", "attention_mask"], 32, 8, 0)
arrays = encoder.encode(json.loads(sys.argv[3]))
print(json.dumps({name: array.tolist() for name, array in arrays.items()}))
print(sys.version_info[:2], np.__version__, file=sys.stderr)
"""


def interpreter(version: str) -> str | None:
    """A ``pythonX.Y`` of this machine (on PATH, or installed by pyenv), if it has one that runs."""
    candidates = [shutil.which(f"python{version}"),
                  *map(str, sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")))]
    for found in filter(None, candidates):
        result = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                                text=True)
        if result.returncode == 0 and result.stdout.strip() == str(tuple(map(int, version.split(".")))):
            return found
    return None


def test_the_table_names_the_pythons_checked_here() -> None:
    assert PYTHONS == ["3.10", "3.12"]
    assert {p.name for p in MODEL_FILES} >= {"tokenizer_model.py", "entities_model.py", "sparse_tokens_model.py",
                                             "tokenizer_encoding.py", "image_model.py", "image_preprocessing.py"}


@pytest.mark.parametrize("version", PYTHONS)
def test_model_files_compile_in_the_image_python(version: str, tmp_path: Path) -> None:
    python = interpreter(version)
    if python is not None:
        for path in MODEL_FILES:
            target = tmp_path / f"{path.stem}.pyc"
            result = subprocess.run([python, "-m", "py_compile", str(path)], capture_output=True, text=True,
                                    env={"PYTHONPYCACHEPREFIX": str(target.parent)})
            assert result.returncode == 0, f"{path.name} on Python {version}: {result.stderr}"
        return
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    assert ruff is not None, f"neither python{version} nor ruff to check the model files with"
    result = subprocess.run([ruff, "check", "--no-cache", "--select", "E9,F63,F7,F82",
                             f"--target-version=py{version.replace('.', '')}", *map(str, MODEL_FILES)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def image_environment(version: str) -> Path:
    """A virtual environment of Python ``version`` with the image's pins, made once in the cache."""
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no python{version} on this machine: the syntax check above used ruff")
    folder = cache_root() / f"image-python-{version}"
    marker = folder / "requirements.txt"
    onnxruntime = f"onnxruntime=={ONNXRUNTIME[version]}"
    wanted = f"{REQUIREMENTS.read_text()}{onnxruntime}\n"
    if marker.is_file() and marker.read_text() == wanted:
        return folder / "bin" / "python"
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(folder)], check=True, capture_output=True)
    subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "-r", str(REQUIREMENTS), onnxruntime], check=True, capture_output=True)
    marker.write_text(wanted)
    return folder / "bin" / "python"


@pytest.mark.parametrize("version", PYTHONS)
def test_the_tokenizer_encoder_gives_the_same_arrays_in_the_image_python(version: str, tiny_repository: Path) -> None:
    python = image_environment(version)
    folder = tiny_repository / "tiny_cls_tokenizer" / "1"
    result = subprocess.run([str(python), "-c", _ENCODE, str(folder), str(folder / "tokenizer.json"),
                             json.dumps(TEXTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"({version.replace('.', ', ')})"), result.stderr
    there = json.loads(result.stdout)
    here = tokenizer_encoding.TextEncoder.from_file(str(folder / "tokenizer.json"), ["input_ids", "attention_mask"],
                                                    32, 8, 0).encode(TEXTS)
    for name, array in here.items():
        np.testing.assert_array_equal(np.asarray(there[name]), array)


_PIXELS = """
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
import tritonize_image as images
import PIL
folder = Path(sys.argv[2])
for rule in ("fixed", "shortest_edge"):
    parameters = images.ImageParameters(rule, height=224, width=224, shortest_edge=224, resample=3,
                                        do_center_crop=rule == "shortest_edge", crop_height=224, crop_width=224)
    for path in sorted(folder.glob("*.img")):
        np.save(folder / f"{path.stem}-{rule}.npy", images.preprocess(path.read_bytes(), parameters))
print(sys.version_info[:2], PIL.__version__, file=sys.stderr)
"""


@pytest.mark.parametrize("version", PYTHONS)
def test_the_image_step_gives_the_same_pixels_in_the_image_python(version: str, tmp_path: Path) -> None:
    """The image step with the image's Pillow pin (docker/requirements.txt) against this environment's Pillow,
    on the verification images (every format and mode), bicubic resize to 224 and shortest edge + crop."""
    from export.images.verification import verification_images

    python = image_environment(version)
    step = tmp_path / "step"
    step.mkdir()
    shutil.copy(image_preprocessing.__file__, step / IMAGE_PREPROCESSING_FILENAME)
    for name, data in verification_images().items():
        (tmp_path / f"{name}.img").write_bytes(data)
    result = subprocess.run([str(python), "-c", _PIXELS, str(step), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"({version.replace('.', ', ')})"), result.stderr
    for name, data in verification_images().items():
        for rule in ("fixed", "shortest_edge"):
            parameters = image_preprocessing.ImageParameters(
                rule, height=224, width=224, shortest_edge=224, resample=3, do_center_crop=rule == "shortest_edge",
                crop_height=224, crop_width=224)
            here = image_preprocessing.preprocess(data, parameters)
            there = np.load(tmp_path / f"{name}-{rule}.npy")
            assert np.max(np.abs(there - here)) <= 1e-5, (name, rule, result.stderr)


#: Runs the one-step model's model.py from its version folder as the Python backend would: initialize with the
#: config as JSON, one execute with two requests (a good one, one with invalid UTF-8). ``pb_utils`` is a stand-in
#: for the backend's module with the calls model.py makes; the real backend runs it in the integration tests.
_ONE_STEP = """
import json, sys, types
import numpy as np
pb = types.ModuleType("triton_python_backend_utils")
class Tensor:
    def __init__(self, name, array): self.name, self.array = name, array
    def as_numpy(self): return self.array
class TritonError:
    INVALID_ARG = 3
    def __init__(self, message, code=0): self.message, self.code = message, code
class InferenceResponse:
    def __init__(self, output_tensors=(), error=None): self.output_tensors, self.error = output_tensors, error
class Request:
    def __init__(self, tensors): self.tensors = tensors
    def requested_output_names(self): return [o["name"] for o in json.loads(config)["output"]]
pb.Tensor, pb.TritonError, pb.InferenceResponse = Tensor, TritonError, InferenceResponse
pb.get_input_tensor_by_name = lambda request, name: request.tensors.get(name)
pb.triton_string_to_numpy = {"TYPE_FP32": np.float32, "TYPE_INT64": np.int64}.__getitem__
sys.modules["triton_python_backend_utils"] = pb
folder, config, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, folder + "/1")
import model, onnxruntime
instance = model.TritonPythonModel()
instance.initialize({"model_config": config, "model_repository": folder, "model_version": "1"})
items = np.array([[t.encode()] for t in texts], dtype=np.object_)
broken = np.array([[b"\\xff"]], dtype=np.object_)
good, bad = Request({"TEXT": Tensor("TEXT", items)}), Request({"TEXT": Tensor("TEXT", broken)})
answers = instance.execute([good, bad])
print(json.dumps({"outputs": {t.name: t.array.tolist() for t in answers[0].output_tensors},
                  "error": [answers[1].error.message, answers[1].error.code]}))
print(sys.version_info[:2], onnxruntime.__version__, file=sys.stderr)
"""


@pytest.mark.parametrize("version", PYTHONS)
def test_the_one_step_model_gives_the_same_outputs_in_the_image_python(version: str, tiny_models: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    from google.protobuf import json_format

    from tests.support.exports import export_into
    from tritonize.repo_format.pbtxt import read_config

    python = image_environment(version)
    export_into(tmp_path, str(tiny_models["bert-sentence"]), "m", formats=("onnx",), serving="one-step")
    folder = tmp_path / "m"
    config = json.dumps(json_format.MessageToDict(read_config(folder), preserving_proto_field_name=True))
    texts = [t for t in TEXTS if t] + ["word " * 100]
    answers = {}
    for name, interpreter_ in (("image", str(python)), ("here", sys.executable)):
        result = subprocess.run([interpreter_, "-c", _ONE_STEP, str(folder), config, json.dumps(texts)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        answers[name] = json.loads(result.stdout)
        if name == "image":
            assert result.stderr.startswith(f"({version.replace('.', ', ')}) {ONNXRUNTIME[version]}"), result.stderr
    there, here = answers["image"], answers["here"]
    np.testing.assert_allclose(np.asarray(there["outputs"]["embeddings"]), np.asarray(here["outputs"]["embeddings"]),
                               atol=1e-5)
    assert np.asarray(there["outputs"]["embeddings"]).shape == (len(texts), 32)
    assert there["error"] == here["error"] == ["TEXT item 0 is not valid UTF-8 (byte 0)", 3]
