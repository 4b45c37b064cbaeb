"""The Triton releases tritonize targets, as data: runtimes, CUDA, GPUs and security bulletins per NGC tag.

Everything that depends on the target release reads this table: the exporter's checks and ``--triton-release``
choices, the Docker image, the Helm chart, the KServe runtime, ``python -m server --explain`` and the docs
(``docs/releases.md``); ``tests/test_releases.py`` fails when any of them disagrees with it.

Sources (each row and bulletin names its own):

* ``build.py`` of the release branch ``rYY.MM`` of triton-inference-server/server (``TRITON_VERSION_MAP``:
  Triton version, ONNX Runtime, the upstream NGC container whose PyTorch the libtorch backend is built from).
* ``docs/introduction/compatibility.md`` of that repository (r26.08): Python and CUDA / driver of each release
  (the vllm-python-py3 table, same base image) and the ONNX Runtime table.
* The NGC PyTorch container's ``torch.__version__`` (``2.X.0a0+<commit>.nvYY.MM``) of the upstream month, from
  NVIDIA's PyTorch release notes or, where those were not at hand, public build logs that print it.
* NVIDIA's security bulletins (github.com/NVIDIA/product-security, CSAF + markdown, snapshot 2026-08-18).
"""

from __future__ import annotations

from dataclasses import dataclass

from tritonize.errors import UsageError

#: Where NVIDIA's bulletins were read; a bulletin published after this date is not in the table.
BULLETINS_CHECKED = "2026-08-18 (github.com/NVIDIA/product-security)"

#: GPU generations by the CUDA that runs them: CUDA 12.8 added Blackwell (sm_100/sm_120); CUDA 13.0 dropped
#: Maxwell, Pascal and Volta (sm_50–sm_70). Source: CUDA 12.8 and 13.0 release notes.
_CUDA12_6 = ("Volta", "Turing", "Ampere", "Ada", "Hopper")
_CUDA12_8 = ("Volta", "Turing", "Ampere", "Ada", "Hopper", "Blackwell")
_CUDA13 = ("Turing", "Ampere", "Ada", "Hopper", "Blackwell")


@dataclass(frozen=True)
class Bulletin:
    """One vulnerability NVIDIA fixed in a Triton release.

    Attributes:
        cve: CVE id.
        cvss: CVSS 3.1 base score.
        unauthenticated: Reachable over the network without privileges (``AV:N/PR:N``).
        hits: What it hits, in a few words.
        fixed_in: First NGC release that has the fix.
        affected_from: First affected release (``None``: every earlier one).
        bulletin: NVIDIA bulletin id (github.com/NVIDIA/product-security/<year>/<id>).
    """

    cve: str
    cvss: float
    unauthenticated: bool
    hits: str
    fixed_in: str
    bulletin: str
    affected_from: str | None = None

    @property
    def severity(self) -> str:
        """CVSS 3.1 rating: critical, high, medium or low."""
        return ("critical" if self.cvss >= 9 else "high" if self.cvss >= 7 else "medium" if self.cvss >= 4
                else "low")

    @property
    def serious(self) -> bool:
        """Critical or high and reachable without authentication: what the default release must not have."""
        return self.unauthenticated and self.cvss >= 7

    def affects(self, tag: str) -> bool:
        """Whether release ``tag`` has this vulnerability."""
        return _key(tag) < _key(self.fixed_in) and (self.affected_from is None
                                                     or _key(tag) >= _key(self.affected_from))


def _b(cve: str, cvss: float, unauthenticated: bool, hits: str, fixed_in: str, bulletin: str,
       affected_from: str | None = None) -> Bulletin:
    return Bulletin(cve, cvss, unauthenticated, hits, fixed_in, bulletin, affected_from)


#: Triton core and Python-backend bulletins (DALI-backend ones are left out: tritonize never serves DALI).
BULLETINS: tuple[Bulletin, ...] = (
    _b("CVE-2024-53880", 4.9, False, "model load API integer overflow (DoS)", "24.12", "2025/5612", "24.11"),
    _b("CVE-2025-23323", 7.5, True, "integer overflow on invalid request (DoS)", "25.05", "2025/5687"),
    _b("CVE-2025-23324", 7.5, True, "integer overflow on invalid request (DoS)", "25.05", "2025/5687"),
    _b("CVE-2025-23325", 7.5, True, "uncontrolled recursion on crafted input (DoS)", "25.05", "2025/5687"),
    _b("CVE-2025-23326", 7.5, True, "integer overflow on crafted input (DoS)", "25.05", "2025/5687"),
    _b("CVE-2025-23327", 7.5, False, "integer overflow (DoS, tampering)", "25.05", "2025/5687"),
    _b("CVE-2025-23335", 4.4, False, "TensorRT backend underflow (DoS)", "25.05", "2025/5687"),
    _b("CVE-2025-23322", 7.5, True, "double free on cancelled stream (DoS)", "25.06", "2025/5687"),
    _b("CVE-2025-23331", 7.5, True, "excessive allocation on invalid request (DoS)", "25.06", "2025/5687"),
    _b("CVE-2025-23310", 9.8, True, "HTTP chunked-encoding stack overflow (RCE), any endpoint", "25.07", "2025/5687"),
    _b("CVE-2025-23311", 9.8, True, "HTTP request stack overflow (RCE), any endpoint", "25.07", "2025/5687"),
    _b("CVE-2025-23317", 9.1, True, "HTTP server reverse shell (RCE)", "25.07", "2025/5687"),
    _b("CVE-2025-23318", 8.1, True, "Python backend out-of-bounds write (RCE)", "25.07", "2025/5687"),
    _b("CVE-2025-23319", 8.1, True, "Python backend shared-memory out-of-bounds write (RCE chain)", "25.07",
       "2025/5687"),
    _b("CVE-2025-23320", 7.5, True, "Python backend shared-memory name leak (RCE chain)", "25.07", "2025/5687"),
    _b("CVE-2025-23321", 7.5, True, "divide by zero on invalid request (DoS)", "25.07", "2025/5687"),
    _b("CVE-2025-23333", 5.9, True, "Python backend shared-memory out-of-bounds read", "25.07", "2025/5687"),
    _b("CVE-2025-23334", 5.9, True, "Python backend out-of-bounds read (RCE chain)", "25.07", "2025/5687"),
    _b("CVE-2025-23316", 9.8, True, "Python backend model-control API model name (RCE)", "25.08", "2025/5691"),
    _b("CVE-2025-23328", 7.5, True, "out-of-bounds write on crafted input (DoS)", "25.08", "2025/5691"),
    _b("CVE-2025-23329", 7.5, True, "Python backend shared-memory corruption (DoS)", "25.08", "2025/5691"),
    _b("CVE-2025-23336", 4.4, False, "misconfigured model load (DoS)", "25.08", "2025/5691"),
    _b("CVE-2025-33202", 7.5, True, "stack overflow on extra-large payload (DoS)", "25.09", "2025/5723"),
    _b("CVE-2025-33211", 7.5, True, "improper quantity validation (DoS)", "25.10", "2025/5734"),
    _b("CVE-2025-33201", 7.5, True, "unchecked large payload (DoS)", "25.10", "2025/5734"),
    _b("CVE-2025-33238", 7.5, True, "DoS", "26.01", "2026/5790"),
    _b("CVE-2025-33254", 7.5, True, "DoS", "26.01", "2026/5790"),
    _b("CVE-2026-24158", 7.5, True, "DoS", "26.01", "2026/5790"),
    _b("CVE-2026-24146", 7.5, True, "DoS", "26.02", "2026/5816"),
    _b("CVE-2026-24173", 7.5, True, "malformed request crash (DoS)", "26.02", "2026/5816"),
    _b("CVE-2026-24174", 7.5, True, "DoS", "26.02", "2026/5816"),
    _b("CVE-2026-24175", 7.5, True, "DoS", "26.02", "2026/5816"),
    _b("CVE-2026-24147", 4.8, True, "model configuration upload path traversal (info disclosure)", "26.02",
       "2026/5816"),
    _b("CVE-2026-24207", 9.8, True, "authentication bypass (RCE)", "26.03", "2026/5828"),
    _b("CVE-2026-24209", 7.5, True, "path traversal (DoS)", "26.03", "2026/5828"),
    _b("CVE-2026-24210", 7.5, True, "integer overflow (DoS)", "26.03", "2026/5828"),
    _b("CVE-2026-24206", 7.3, True, "authentication bypass (privilege escalation)", "26.03", "2026/5828"),
    _b("CVE-2026-24208", 5.3, True, "path traversal (DoS)", "26.03", "2026/5828"),
    _b("CVE-2026-24264", 7.5, True, "highly compressed data (DoS)", "26.04", "2026/5848"),
    _b("CVE-2026-24266", 5.9, True, "use-after-free (DoS)", "26.04", "2026/5848"),
    _b("CVE-2026-47476", 7.5, True, "uncontrolled resource consumption (DoS)", "26.05", "2026/5853"),
    _b("CVE-2026-47477", 7.5, True, "stack buffer overflow (DoS)", "26.05", "2026/5853"),
    _b("CVE-2026-47478", 7.5, True, "expired file descriptor (DoS)", "26.05", "2026/5853"),
    _b("CVE-2026-47479", 7.5, True, "uncontrolled resource consumption (DoS)", "26.05", "2026/5853"),
    _b("CVE-2026-47480", 7.5, True, "uncaught exception (DoS)", "26.05", "2026/5853"),
    _b("CVE-2026-47482", 7.5, True, "memory not released (DoS)", "26.05", "2026/5853"),
    _b("CVE-2026-47481", 6.5, True, "authentication bypass via alternate path", "26.05", "2026/5853"),
    _b("CVE-2026-47627", 9.8, True, "path traversal", "26.06", "2026/5865"),
    _b("CVE-2026-47628", 7.5, True, "unbounded allocation (DoS)", "26.06", "2026/5865"),
    _b("CVE-2026-47629", 7.5, True, "improper input validation (DoS)", "26.06", "2026/5865"),
    _b("CVE-2026-47606", 6.5, True, "see bulletin", "26.06", "2026/5865"),
    _b("CVE-2026-47630", 5.5, False, "see bulletin", "26.06", "2026/5865"),
)


@dataclass(frozen=True)
class Release:
    """One NGC release of the Triton container (``nvcr.io/nvidia/tritonserver:<tag>-py3``).

    Attributes:
        tag: NGC tag, ``YY.MM``.
        triton: Triton Inference Server version.
        python: Python of the image (runs the Python-backend models).
        onnxruntime: ONNX Runtime of the onnxruntime backend; ``None``: not confirmed.
        max_opset: Highest ONNX opset that ONNX Runtime runs.
        torch: PyTorch generation of the libtorch backend (NGC PyTorch ``torch.__version__``); ``None``: not
            confirmed.
        torch_pypi: The PyPI torch release nearest to ``torch`` that the TorchScript release check runs.
        cuda: CUDA version of the image.
        min_driver: Driver of that CUDA (older data-center drivers may run it in forward-compatibility mode).
        gpus: GPU architectures the image runs on.
        source: Where each cell comes from.
    """

    tag: str
    triton: str
    python: str
    onnxruntime: str | None
    max_opset: int
    torch: str | None
    torch_pypi: str | None
    cuda: str
    min_driver: str
    gpus: tuple[str, ...]
    source: str

    @property
    def confirmed(self) -> bool:
        """Both runtimes come from a source: only then is the release accepted."""
        return self.onnxruntime is not None and self.torch is not None

    @property
    def image(self) -> str:
        """The NGC image of this release."""
        return f"nvcr.io/nvidia/tritonserver:{self.tag}-py3"

    @property
    def bulletins(self) -> tuple[Bulletin, ...]:
        """Known vulnerabilities of this release (fixed in a later one)."""
        return tuple(b for b in BULLETINS if b.affects(self.tag))

    @property
    def serious_bulletins(self) -> tuple[Bulletin, ...]:
        """Critical/high vulnerabilities reachable without authentication."""
        return tuple(b for b in self.bulletins if b.serious)


_BUILD = "server rYY.MM build.py (Triton, ORT, upstream container)"
_COMPAT = "compatibility.md r26.08 (Python, CUDA, driver)"
_OPSET = "opset: measured (an opset-N model loaded in each ORT, 2026-12-05)"


def _r(tag: str, triton: str, python: str, ort: str | None, opset: int, torch: str | None, cuda: str,
       driver: str, gpus: tuple[str, ...], torch_source: str) -> Release:
    pypi = None if torch is None else torch.split("a0")[0]
    return Release(tag, triton, python, ort, opset, torch, pypi, cuda, driver, gpus,
                   f"{_BUILD}; {_COMPAT}; {_OPSET}; torch: {torch_source}")


#: Every monthly release from 24.09 on; the newest confirmed one is the default.
RELEASES: tuple[Release, ...] = (
    _r("24.09", "2.50.0", "3.10", "1.19.2", 21, "2.5.0a0", "12.6", "560.35.03",
       _CUDA12_6, "2.5.0a0+b465a5843b.nv24.09 (build logs)"),
    _r("24.10", "2.51.0", "3.10", "1.19.2", 21, "2.5.0a0", "12.6", "560.35.03",
       _CUDA12_6, "2.5.0a0+e000cf0ad9.nv24.10 (compatibility.md)"),
    _r("24.11", "2.52.0", "3.12", "1.19.2", 21, "2.6.0a0", "12.6", "560.35.05",
       _CUDA12_6, "2.6.0a0+df5bbc09d1.nv24.11 (compatibility.md)"),
    _r("24.12", "2.53.0", "3.12", "1.20.1", 21, "2.6.0a0", "12.6", "560.35.05",
       _CUDA12_6, "2.6.0a0+df5bbc09d1.nv24.12 (build logs)"),
    _r("25.01", "2.54.0", "3.12", "1.20.1", 21, "2.6.0a0", "12.8", "570.86.10",
       _CUDA12_8, "2.6.0a0+ecf3bae40a.nv25.1 (compatibility.md)"),
    _r("25.02", "2.55.0", "3.12", "1.20.1", 21, "2.7.0a0", "12.8", "570.86.10",
       _CUDA12_8, "2.7.0a0+ecf3bae40a.nv25.02 (build logs)"),
    _r("25.03", "2.56.0", "3.12", "1.21.0", 22, "2.7.0a0", "12.8", "570.124.06",
       _CUDA12_8, "2.7.0a0+7c8ec84dab.nv25.3 (compatibility.md)"),
    _r("25.04", "2.57.0", "3.12", "1.21.0", 22, "2.7.0a0", "12.9", "575.51.02",
       _CUDA12_8, "2.7.0a0+79aa17489c.nv25.4 (compatibility.md)"),
    _r("25.05", "2.58.0", "3.12", "1.22.0", 22, "2.8.0a0", "12.9", "575.51.03",
       _CUDA12_8, "2.8.0a0+5228986c39.nv25.5 (compatibility.md)"),
    _r("25.06", "2.59.0", "3.12", "1.22.0", 22, "2.8.0a0", "12.9", "575.51.03",
       _CUDA12_8, "2.8.0a0+5228986c39.nv25.6 (compatibility.md)"),
    _r("25.07", "2.59.1", "3.12", "1.22.0", 22, None, "12.9", "575.51.03",
       _CUDA12_8, "NGC PyTorch 25.07 not found in any source"),
    _r("25.08", "2.60.0", "3.12", "1.23.0", 23, "2.8.0a0", "13.0", "580.82.07",
       _CUDA13, "2.8.0a0+34c6371d24.nv25.08 (build logs)"),
    _r("25.09", "2.61.0", "3.12", "1.23.0", 23, "2.9.0a0", "13.0", "580.82.07",
       _CUDA13, "2.9.0a0+50eac811a6.nv25.09 (build logs)"),
    _r("25.10", "2.62.0", "3.12", "1.23.1", 23, "2.9.0a0", "13.0", "580.95.05",
       _CUDA13, "2.9.0a0+145a3a7bda.nv25.10 (compatibility.md)"),
    _r("25.11", "2.63.0", "3.12", "1.23.2", 23, "2.10.0a0", "13.0", "580.95.05",
       _CUDA13, "2.10.0a0+b558c986e8.nv25.11 (build logs)"),
    _r("25.12", "2.64.0", "3.12", "1.23.2", 23, "2.10.0a0", "13.1", "590.44.01",
       _CUDA13, "2.10.0a0+b4e4ee81d3 (NGC PyTorch 25.12 release notes)"),
    _r("26.01", "2.65.0", "3.12", "1.23.2", 23, "2.10.0a0", "13.1", "590.48.01",
       _CUDA13, "2.10.0a0+a36e1d39eb.nv26.01 (build logs)"),
    _r("26.02", "2.66.0", "3.12", "1.24.1", 25, "2.11.0a0", "13.1", "590.48.01",
       _CUDA13, "2.11.0a0+eb65b36914.nv26.02 (build logs)"),
    _r("26.03", "2.67.0", "3.12", "1.24.2", 25, "2.11.0a0", "13.2", "595.45.04",
       _CUDA13, "2.11.0a0+a6c236b9fd.nv26.03 (build logs)"),
    _r("26.04", "2.68.0", "3.12", "1.24.4", 25, "2.12.0a0", "13.2", "595.58.03",
       _CUDA13, "2.12.0a0+0291f960b6.nv26.04 (build logs)"),
    _r("26.05", "2.69.0", "3.12", "1.24.4", 25, "2.12.0a0", "13.2", "595.58.03",
       _CUDA13, "upstream 26.04: 2.12.0a0+0291f960b6.nv26.04 (build logs)"),
    _r("26.06", "2.70.0", "3.12", "1.24.4", 25, "2.12.0a0", "13.3", "610.43.02",
       _CUDA13, "upstream 26.05: 2.12.0a0+5aff3928d8.nv26.05 (build logs)"),
    _r("26.07", "2.71.0", "3.12", "1.27.0", 26, "2.13.0a0", "13.3", "610.43.02",
       _CUDA13, "2.13.0a0+9186a08b2c.nv26.07 (build logs)"),
    _r("26.08", "2.72.0", "3.12", "1.28.0", 26, "2.14.0a0", "13.4", "615.61",
       _CUDA13, "2.14.0a0+4fdf77b940.nv26.08 (build logs)"),
)

#: The release of the Triton that ``python -m server`` runs here (the nvidia-pytriton wheel ends at 2.51).
LOCAL_RELEASE = "24.10"

#: Releases that exist but are not in the sources read (no release branch in the server snapshot of 2026-08-20).
UNCONFIRMED_TAGS = ("26.09", "26.10", "26.11")

_BY_TAG = {r.tag: r for r in RELEASES}


def _key(tag: str) -> tuple[int, int]:
    year, month = tag.split(".")
    return int(year), int(month)


def supported() -> tuple[str, ...]:
    """Tags ``--triton-release`` accepts, oldest first."""
    return tuple(r.tag for r in RELEASES if r.confirmed)


#: The newest release whose ONNX Runtime and PyTorch are confirmed.
DEFAULT_RELEASE: str = supported()[-1]


def release(tag: str) -> Release:
    """The confirmed release ``tag``.

    Raises:
        UsageError: ``tag`` is not in the table, or its runtimes are not confirmed.
    """
    row = _BY_TAG.get(tag)
    if row is not None and row.confirmed:
        return row
    choices = ", ".join(supported())
    if row is not None or tag in UNCONFIRMED_TAGS:
        missing = "PyTorch" if row is not None and row.onnxruntime else "ONNX Runtime and PyTorch"
        raise UsageError(f"Triton {tag}: its {missing} version is not confirmed by a source, so its exports cannot "
                         f"be checked. Supported: {choices}.")
    raise UsageError(f"Unknown Triton release '{tag}'. Supported: {choices}.")


def warning(tag: str) -> str | None:
    """One line naming the critical/high unauthenticated vulnerabilities of ``tag``; ``None`` when it has none."""
    serious = release(tag).serious_bulletins
    if not serious:
        return None
    fixed = max((b.fixed_in for b in serious), key=_key)
    critical = [b.cve for b in serious if b.severity == "critical"]
    named = f"; critical: {', '.join(critical)}" if critical else f": {', '.join(b.cve for b in serious)}"
    return (f"warning: Triton {tag} has {len(serious)} known critical/high vulnerabilities reachable without "
            f"authentication, all fixed by {fixed} (default: {DEFAULT_RELEASE}){named}. See docs/security.md.")


def local_differences(tag: str, local: str = LOCAL_RELEASE) -> str | None:
    """What serving a ``tag`` repository on the local Triton (release ``local``) changes; ``None`` when the same."""
    if tag == local:
        return None
    target, here = release(tag), release(local)
    return (f"note: target Triton {target.triton} ({tag}) runs ONNX Runtime {target.onnxruntime} and PyTorch "
            f"{target.torch}; `python -m server` runs Triton {here.triton} ({local}) with this environment's ONNX "
            f"Runtime and PyTorch instead. The files were verified in the target's own versions.")
