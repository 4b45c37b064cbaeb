"""Can the tokenizer move into the ONNX graph (onnxruntime-extensions)? Token-exactness and the container check.

    .venv/bin/python -m benchmarks.in_graph_tokenizer [FOLDER ...]     # bundled MiniLM when none is given

Two findings decide whether an export may serve text in, one ONNX model out (issue 31):

1. **Token-exact**: onnxruntime-extensions' ``gen_processing_models`` graph gives the same ids as the model's
   own tokenizer on a wide probe (:func:`probe_texts`: accents, CJK, Hangul, emoji, control characters, very
   long texts, prose) — run in an isolated venv (:data:`ORTX_ENV`) by :mod:`benchmarks.ortx_probe`.
2. **Loads without Python**: Triton's ONNX Runtime backend is C++ in the ``tritonserver`` process, which does
   not link libpython. The custom-op library the wheel ships (``get_library_path()``) is a CPython extension
   module; :func:`loads_without_python` compiles a tiny C program that ``dlopen``s it as
   ``RegisterCustomOpsLibrary`` would, in a process without libpython.

Prints one line per folder and the container verdict, and the JSON of both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from benchmarks.peer_envs import PeerEnv, ensure

ORTX_ENV = PeerEnv("ortx-0.15.2", (("onnxruntime-extensions==0.15.2", "onnxruntime", "onnx", "transformers"),))
PROBE_SCRIPT = Path(__file__).with_name("ortx_probe.py")

#: Texts where tokenizers disagree first: normalization (accents, compatibility forms), CJK and Hangul,
#: emoji sequences, whitespace and control characters, empty and very long texts.
HARD_TEXTS = (
    "hello world", "Café in Zürich — naïve façade", "ÀÉÎÕÜ àéîõü ñ ß Ø", "東京は日本の首都です", "北京欢迎你",
    "한국어 텍스트", "emoji 🚀🔥👍🏽 family 👨\u200d👩\u200d👧", "tab\there\nnewline\r\nand\x00null\x07bell\x1bescape",
    "zero\u200bwidth\u00a0nbsp", "  leading and trailing  ", "", "UPPER lower MiXeD", "don't won't it's",
    "e-mail: a.b@c.de, url https://x.y/z?q=1", "123,456.78 $5 €10 ¥20", "ﬁ ligature ＦＵＬＬＷＩＤＴＨ",
    "Ελληνικά Русский עברית العربية हिन्दी", "combining e\u0301 vs é", "a" * 300, " ".join(["word"] * 600),
    "unaffable antidisestablishmentarianism",
)


def probe_texts(prose: int = 200, paragraphs: int = 20) -> list[str]:
    """:data:`HARD_TEXTS`, then held-out sentences and paragraphs of the benchmark corpus."""
    from client.corpus import corpus
    from client.corpus import paragraphs as long_texts

    return list(HARD_TEXTS) + corpus(prose, seed=3) + long_texts(paragraphs, seed=3)


@dataclass(frozen=True)
class ProbeResult:
    """One tokenizer folder's verdict.

    Attributes:
        folder: The folder probed.
        texts: Probe texts compared.
        differ: Texts whose ids differ (``None`` when the conversion failed).
        first: The first difference (text, wanted ids, got ids), or the conversion error.
    """

    folder: str
    texts: int
    differ: int | None
    first: str

    @property
    def exact(self) -> bool:
        """Every probe text gave the same ids."""
        return self.differ == 0


def probe(folders: list[Path], texts: list[str] | None = None, say: object = lambda _: None) -> list[ProbeResult]:
    """Run :mod:`benchmarks.ortx_probe` on ``folders`` in :data:`ORTX_ENV`."""
    env = ensure(ORTX_ENV, say)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.json"
        path.write_text(json.dumps(texts if texts is not None else probe_texts(), ensure_ascii=False))
        finished = subprocess.run([str(env.python), str(PROBE_SCRIPT), str(path), *map(str, folders)],
                                  capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"ortx_probe failed: {(finished.stderr.strip().splitlines() or ['?'])[-1]}")
    results = []
    for line in finished.stdout.splitlines():
        found = json.loads(line)
        first = found.get("error") or (json.dumps(found["first"], ensure_ascii=False) if found.get("first") else "")
        results.append(ProbeResult(found["folder"], found["texts"], found.get("differ"), first))
    return results


#: dlopen the library as ONNX Runtime's RegisterCustomOpsLibrary does, in a process without libpython.
_DLOPEN_C = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!library) { printf("%s\n", dlerror()); return 1; }
  printf("loaded; RegisterCustomOps %s\n", dlsym(library, "RegisterCustomOps") ? "found" : "missing");
  return 0;
}
"""


def ops_library() -> Path:
    """The custom-op library of the onnxruntime-extensions wheel in :data:`ORTX_ENV`."""
    env = ensure(ORTX_ENV)
    found = subprocess.run([str(env.python), "-c", "import onnxruntime_extensions as o; print(o.get_library_path())"],
                           capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


def loads_without_python(library: Path) -> tuple[bool, str]:
    """Whether ``library`` loads into a C program that does not link libpython, and what ``dlopen`` said.

    Raises:
        RuntimeError: No C compiler here.
    """
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise RuntimeError("no C compiler (cc/gcc) to build the dlopen check")
    with tempfile.TemporaryDirectory() as tmp:
        source, program = Path(tmp) / "dlopen_check.c", Path(tmp) / "dlopen_check"
        source.write_text(_DLOPEN_C)
        subprocess.run([compiler, "-o", str(program), str(source), "-ldl"], check=True, capture_output=True)
        finished = subprocess.run([str(program), str(library)], capture_output=True, text=True)
    return finished.returncode == 0, finished.stdout.strip()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
def main(folders: tuple[Path, ...]) -> None:
    """Probe FOLDERS' tokenizers (default: the bundled MiniLM) and check the container path."""
    from export.source import bundled_source

    chosen = list(folders) or [bundled_source().folder]
    results = probe(chosen, say=lambda line: click.echo(line, err=True))
    for result in results:
        verdict = "token-exact" if result.exact else (
            f"{result.differ} of {result.texts} texts differ" if result.differ is not None else "not converted")
        click.echo(f"{result.folder}: {verdict}" + (f"; first: {result.first}" if result.first else ""))
    library = ops_library()
    loads, said = loads_without_python(library)
    click.echo(f"custom-op library {library.name} outside Python: {'loads' if loads else 'does not load'} ({said})")


if __name__ == "__main__":
    main()
