"""Names of the models one export writes, all derived from one base name."""

from __future__ import annotations

from dataclasses import dataclass

from tritonize.repo_format.platforms import Format


@dataclass(frozen=True)
class ModelNames:
    """Names of the models one export writes, all derived from one base name."""

    base: str

    @property
    def ensemble(self) -> str:
        """The model clients call: text in, task outputs out."""
        return self.base

    @property
    def tokenizer(self) -> str:
        """The Python-backend tokenizer model."""
        return f"{self.base}_tokenizer"

    @property
    def preprocess(self) -> str:
        """The Python-backend model that decodes and preprocesses images (image ensembles)."""
        return f"{self.base}_preprocess"

    @property
    def entities(self) -> str:
        """The Python-backend model that groups token classes into entities (token classification)."""
        return f"{self.base}_entities"

    @property
    def vocabulary(self) -> str:
        """The Python-backend model that names the tokens of sparse-embedding indices."""
        return f"{self.base}_vocabulary"

    def artifact(self, fmt: Format) -> str:
        """The model serving one exported artifact."""
        return f"{self.base}_{fmt}"
