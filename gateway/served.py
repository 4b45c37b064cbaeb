"""The served models as the gateway last saw them, refreshed when a request names one it does not know."""

from __future__ import annotations

import asyncio
import time

from gateway.catalog import ServedModel, build_catalog, split_alias
from gateway.errors import BadRequest, ModelNotFound
from gateway.triton import TritonEngine

#: A request for an unknown model re-reads Triton's models at most this often (models load while serving).
REFRESH_INTERVAL_S = 1.0


class ServedModels:
    """Triton's ready ensembles, by name.

    Args:
        engine: The connection to Triton.
    """

    def __init__(self, engine: TritonEngine) -> None:
        self.engine = engine
        self.models: dict[str, ServedModel] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> dict[str, ServedModel]:
        """Read the ready models from Triton again.

        Raises:
            Unavailable: Triton cannot be reached.
        """
        async with self._lock:
            self.models = build_catalog(await self.engine.ready_configs())
            self._read_at = time.monotonic()  # after success only: while Triton is down every request asks it
        return self.models

    async def get(self, name: str) -> ServedModel:
        """The served model called ``name``, re-reading Triton's models once if it is not known yet.

        Raises:
            ModelNotFound: Triton serves no ready ensemble of that name.
        """
        model = self.models.get(name)
        if model is None and time.monotonic() - self._read_at >= REFRESH_INTERVAL_S:
            model = (await self.refresh()).get(name)
        if model is None:
            raise ModelNotFound(f"The model '{name}' does not exist or is not ready", param="model")
        return model

    async def resolve(self, requested: str, task: str, prompt: str | None = None
                      ) -> tuple[ServedModel, str | None]:
        """The model and prompt a request names: ``NAME:prompt`` aliases, or ``prompt`` given apart.

        Raises:
            ModelNotFound: No such model.
            BadRequest: The model serves another task, or the prompt is unknown, given twice, or the model has none.
        """
        name, alias_prompt = split_alias(requested)
        if alias_prompt and prompt and alias_prompt != prompt:
            raise BadRequest(f"Two prompts asked for: '{alias_prompt}' in the model name and '{prompt}' in "
                             "prompt_name", param="prompt_name")
        model = await self.get(name)
        if model.task != task:
            raise BadRequest(f"The model '{name}' serves {model.task}, not {task}", param="model",
                             code="model_task_mismatch")
        chosen = alias_prompt or prompt
        if chosen is not None and chosen not in model.prompts:
            known = ", ".join(model.prompts) or "none"
            raise BadRequest(f"The model '{name}' has no prompt '{chosen}' (its prompts: {known})",
                             param="prompt_name" if prompt else "model")
        return model, chosen
