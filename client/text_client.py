"""The client's Python API: health, repository, model configs and text predictions against one Triton server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from tritonclient.grpc import model_config_pb2 as mc

from client import multi_vector as multi_vectors
from client import rerank as reranking
from client import sparse, token_lengths
from client import text_zero_shot as zero_shots
from client.batching import ordered_map, restore_order, sorted_batches
from client.connection import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, Connection, Endpoint, RequestedOutput
from client.errors import (
    ClientError,
    InputError,
    ModelNotFound,
    ModelNotReady,
    RequestTimeout,
    ServerRejected,
    ServerUnreachable,
    UnsupportedModel,
    UsageProblem,
)
from client.metadata import Health, ModelInterface, RepositoryEntry
from client.multi_vector import MultiVector
from client.plan import RequestPlan
from client.rerank import PairPlan, RankedDocument
from client.results import Label, Prediction
from client.server_stats import ModelCounters
from client.sparse import SparseEmbedding
from client.text_zero_shot import ZeroShotResult
from client.tokenizing import load_encoder
from tritonize.repo_format.tokenizer_encoding import TextEncoder

#: Seconds between checks while waiting for readiness.
POLL_INTERVAL_S = 0.25
#: Texts sorted by token count together, by default (see :meth:`TextClient.stream`).
SORT_WINDOW = 4096
#: Requests in flight by default for many texts: one per model instance of a CPU export (three), so each has a
#: batch while another request is tokenized or in transit (10,000 short texts, fp32: 206–216 texts/s with 2,
#: 221–233 with 3, 220–228 with 4; README, Performance).
IN_FLIGHT = 3

#: What :meth:`TextClient.stream` sends: texts, or (query, passage) pairs for a reranker.
Items = Sequence[str] | Sequence[tuple[str, str]]
#: ``(score, labels)`` of one scored pair.
PairScore = tuple[float, tuple[Label, ...]]


class TextClient:
    """Send texts to a Triton text model and read what the server says about its models.

    Tensor names, dtypes, batch limits and labels come from the server's model configs. Use as a context
    manager (or call :meth:`close`) to close connections. Every error is a :class:`~client.errors.ClientError`.

    Example:
        >>> with TextClient("localhost:8000") as client:
        ...     client.predict(["I love this"], model="sentiment")[0].labels[0].label
        'positive'
    """

    def __init__(self, url: str | None = None, protocol: str | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 retries: int = DEFAULT_RETRIES, api_key: str | None = None) -> None:
        self.endpoint = Endpoint.parse(url, protocol, timeout=timeout, retries=retries, api_key=api_key)
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._tokenizer_steps: dict[str, token_lengths.TokenizerStep | None] = {}

    @property
    def url(self) -> str:
        """The server's URL with scheme."""
        return self.endpoint.url

    def connection(self) -> Connection:
        """The calling thread's connection (tritonclient's clients are not thread-safe)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = Connection(self.endpoint)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        """Close every connection this client opened."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool, self._pool_size = None, 0
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()

    def __enter__(self) -> TextClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Server and repository -------------------------------------------------------------------------------------

    def health(self, model: str | None = None) -> Health:
        """Liveness, readiness and, when ``model`` is given, its state; a down server is a state, not an error."""
        connection = self.connection()
        try:
            live = connection.live()
            ready = live and connection.ready()
            if model is None:
                return Health(url=self.url, live=live, ready=ready)
            model_ready = live and connection.model_ready(model)
            state = "READY" if model_ready else self._state_of(model)
            return Health(url=self.url, live=live, ready=ready, model=model, model_ready=model_ready,
                          model_state=state)
        except (ServerUnreachable, RequestTimeout) as error:
            return Health(url=self.url, model=model, model_ready=False if model else None, error=str(error))

    def wait_until_ready(self, seconds: float, model: str | None = None,
                         interval: float = POLL_INTERVAL_S) -> Health:
        """Poll :meth:`health` until it is ok or ``seconds`` have passed; return the last answer."""
        deadline = time.monotonic() + seconds
        while True:
            health = self.health(model)
            remaining = deadline - time.monotonic()
            if health.ok or remaining <= 0:
                return health
            time.sleep(min(interval, remaining))

    def models(self) -> list[RepositoryEntry]:
        """The repository index: every model with its version, state and failure reason."""
        return RepositoryEntry.from_index(self.connection().repository_index())

    def model_config(self, name: str) -> mc.ModelConfig:
        """Model ``name``'s config as Triton serves it (after its defaults are filled in)."""
        return self._about(name, lambda: self.connection().model_config(name))

    def model_config_json(self, name: str) -> dict[str, Any]:
        """Model ``name``'s config as the protocol carries it."""
        return self._about(name, lambda: self.connection().model_config_json(name))

    def model_metadata(self, name: str) -> dict[str, Any]:
        """Model ``name``'s metadata: versions, platform, input and output tensors with shapes."""
        return self._about(name, lambda: self.connection().model_metadata(name))

    def interface(self, name: str) -> ModelInterface:
        """Model ``name``'s tensors, read from its config."""
        return ModelInterface.from_config(self.model_config(name))

    def stages(self, name: str) -> list[str]:
        """The models a request to ``name`` runs through: an ensemble's steps (recursively), else ``name``."""
        config = self.model_config(name)
        if not config.HasField("ensemble_scheduling"):
            return [name]
        return [stage for step in config.ensemble_scheduling.step for stage in self.stages(step.model_name)]

    def counters(self, names: Iterable[str]) -> dict[str, ModelCounters]:
        """Triton's cumulative queue and compute statistics of each model, by name."""
        return {name: ModelCounters.from_statistics(self._about(name, lambda n=name: self.connection()
                                                                .inference_statistics(n)))
                for name in names}

    def text_models(self) -> list[str]:
        """Ready ensembles that take one string tensor: the models ``predict`` can pick by itself."""
        return [entry.name for entry in self.models()
                if entry.ready and self.interface(entry.name).is_text_ensemble]

    def resolve_model(self, name: str | None) -> str:
        """``name``, or the only text ensemble the server holds.

        Raises:
            ClientError: No name was given and the server holds no ready text ensemble.
            UsageProblem: No name was given and the server holds several.
        """
        if name:
            return name
        return self._the_only(self.text_models(), "text ensemble")

    # Predictions -----------------------------------------------------------------------------------------------

    def plan(self, model: str | None = None, batch_size: int | None = None, top_k: int | None = None,
             tokenizer: str | Path | TextEncoder | None = None) -> RequestPlan:
        """Resolve the model, check it is ready and read its config into a :class:`RequestPlan`.

        Args:
            model: Model name; ``None`` picks the only text ensemble.
            batch_size: Texts per request; capped at the model's ``max_batch_size`` (default:
                :data:`~client.plan.DEFAULT_REQUEST_TEXTS`).
            top_k: Classes per text (per token for token outputs); default: all per text, the best per token.
            tokenizer: For models that take token tensors: a ``tokenizer.json``, a tokenizer model folder, or
                a :class:`TextEncoder`.
        """
        name = self.resolve_model(model)
        if not self.connection().model_ready(name):
            self._raise_missing(name)
        encoder = load_encoder(Path(tokenizer)) if isinstance(tokenizer, (str, Path)) else tokenizer
        return RequestPlan.build(self.interface(name), batch_size=batch_size, top_k=top_k, encoder=encoder)

    def predict(self, texts: Iterable[str], model: str | None = None, *, batch_size: int | None = None,
                concurrency: int = IN_FLIGHT, top_k: int | None = None,
                tokenizer: str | Path | TextEncoder | None = None, sort_window: int = SORT_WINDOW) -> list[Prediction]:
        """Predict every text, in input order; see :meth:`plan` and :meth:`stream` for the options."""
        plan = self.plan(model, batch_size=batch_size, top_k=top_k, tokenizer=tokenizer)
        return list(self.stream(plan, list(texts), concurrency=concurrency, sort_window=sort_window))

    def stream(self, plan: RequestPlan | PairPlan, texts: Items, concurrency: int = IN_FLIGHT,
               on_batch: Callable[[int], None] | None = None,
               sort_window: int = SORT_WINDOW, positions: Sequence[int] | None = None) -> Iterator[Prediction]:
        """Send ``texts`` in batches with ``concurrency`` requests in flight; yield predictions in input order.

        Args:
            plan: What to send and ask back (from :meth:`plan`; a :class:`~client.rerank.PairPlan` for pairs).
            texts: The texts (for a pair plan: (query, passage) pairs).
            concurrency: Requests in flight at once (each on its own thread and connection).
            on_batch: Called with the number of texts of each batch once its predictions are in.
            sort_window: Batch texts of similar token counts (:meth:`token_lengths`) together within windows of
                this many texts (less padding: about twice the throughput on mixed lengths); predictions still come
                in input order, a window at a time. 0 sends texts in input order.
            positions: Where each text came from (e.g. its line), used as the predictions' ``index`` and in
                error messages; default ``0, 1, 2, ...``.

        Raises:
            InputError: ``texts`` is empty or holds a blank text (which the tokenizer model refuses), named
                before anything is sent.
            ServerRejected: Triton refused a batch; the message names the texts it held.
        """
        if not texts:
            raise InputError("No texts to send")
        if concurrency < 1:
            raise UsageProblem(f"Concurrency must be at least 1, not {concurrency}")
        where = list(positions) if positions is not None else list(range(len(texts)))
        blank = [where[i] for i, text in enumerate(texts)
                 if not all(side.strip() for side in ((text,) if isinstance(text, str) else text))]
        if blank:
            listed = ", ".join(map(str, blank[:10])) + (", …" if len(blank) > 10 else "")
            raise InputError(f"Blank text{'s' if len(blank) > 1 else ''} at index {listed}: "
                             "the tokenizer model refuses empty texts")
        pool = self._executor(concurrency) if concurrency > 1 else None
        sorting = sort_window > 0 and len(texts) > plan.batch_size and isinstance(plan, RequestPlan)
        lengths = self.token_lengths(plan, texts, concurrency) if sorting else [len(text) for text in texts]
        batches = sorted_batches(lengths, plan.batch_size, sort_window)

        def send(indices: list[int]) -> list[tuple[int, Prediction]]:
            predictions = self._send(plan, indices, [texts[i] for i in indices], [where[i] for i in indices])
            return [(p.index, p) for p in predictions]

        def reported(results: Iterator[list[tuple[int, Prediction]]]) -> Iterator[list[tuple[int, Prediction]]]:
            for result in results:
                if on_batch is not None:
                    on_batch(len(result))
                yield result

        for prediction in restore_order(reported(ordered_map(send, batches, concurrency, pool))):
            yield prediction if positions is None else replace(prediction, index=where[prediction.index])

    def token_lengths(self, plan: RequestPlan, texts: Sequence[str], concurrency: int = IN_FLIGHT) -> list[int]:
        """Each text's tokens as the model's tokenizer counts them, to sort by (see :mod:`client.token_lengths`).

        From the plan's client-side encoder, else from the text ensemble's tokenizer step (asked for attention
        masks only, ``concurrency`` requests in flight), else characters. A text the tokenizer refuses counts its
        characters: the prediction request reports it, with the ensemble's own message.
        """
        if plan.encoder is not None:
            return [len(encoding.ids) for encoding in plan.encoder.tokenizer.encode_batch(list(texts))]
        step = self._tokenizer_step(plan.model)
        if step is None:
            return [len(text) for text in texts]
        chunks = [list(range(start, min(start + step.max_batch_size, len(texts))))
                  for start in range(0, len(texts), step.max_batch_size)]

        def count(indices: list[int]) -> list[int]:
            chunk = [texts[i] for i in indices]
            (_, datatype, array), = plan.inputs(chunk)  # the ensemble's text tensor, handed to the step unchanged
            try:
                answer = self.connection().infer(step.model, [(step.text_input, datatype, array)],
                                                 [RequestedOutput(step.lengths_output)])
            except ServerRejected:
                return [len(text) for text in chunk]
            return step.lengths(answer[step.lengths_output])

        pool = self._executor(concurrency) if concurrency > 1 else None
        return [n for counted in ordered_map(count, chunks, concurrency, pool) for n in counted]

    def _tokenizer_step(self, model: str) -> token_lengths.TokenizerStep | None:
        """The tokenizer step of text ensemble ``model`` (cached: configs do not change while it is loaded)."""
        if model not in self._tokenizer_steps:
            self._tokenizer_steps[model] = token_lengths.tokenizer_step(self.model_config(model), self.model_config)
        return self._tokenizer_steps[model]

    def _executor(self, workers: int) -> ThreadPoolExecutor:
        """A pool of ``workers`` threads, kept between calls so that their connections are reused."""
        if self._pool is None or self._pool_size != workers:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="triton-request")
            self._pool_size = workers
        return self._pool

    def _send(self, plan: RequestPlan | PairPlan, indices: Sequence[int], texts: Items,
              positions: Sequence[int]) -> list[Prediction]:
        inputs = plan.inputs(texts, indices)
        try:
            arrays = self.connection().infer(plan.model, inputs, plan.outputs())
        except ServerRejected as error:
            raise ServerRejected(error.server_message, error.status,
                                 context=f"Model '{plan.model}' rejected {describe_positions(positions)}") from error
        return plan.predictions(texts, arrays, indices)

    # Sparse embeddings -----------------------------------------------------------------------------------------

    def encode_sparse(self, texts: Iterable[str], model: str | None = None, *, batch_size: int | None = None,
                      concurrency: int = IN_FLIGHT, positions: Sequence[int] | None = None) -> list[SparseEmbedding]:
        """The sparse (SPLADE) embedding of every text, in input order: non-zero terms, highest weight first.

        ``positions`` are the texts' input positions (each embedding's ``index``; default 0, 1, …).

        Raises:
            UnsupportedModel: The model does not return sparse embeddings (a dense embedding model, a classifier).
        """
        plan = self.plan(model, batch_size=batch_size)
        sparse.check_sparse(plan.interface)
        return [SparseEmbedding(p.index, p.text, sparse.terms(p.outputs) or ())
                for p in self.stream(plan, list(texts), concurrency=concurrency, positions=positions)]

    # Reranking -------------------------------------------------------------------------------------------------

    def rerank(self, query: str, documents: Sequence[str], model: str | None = None, *, top_k: int | None = None,
               label: str | None = None, batch_size: int | None = None,
               concurrency: int = IN_FLIGHT) -> list[RankedDocument]:
        """Score every document against ``query`` with a cross-encoder; return them best first.

        A multi-vector (ColBERT) export scores by MaxSim of the query's and each document's token vectors.

        Args:
            query: The query.
            documents: The documents (passages) to rank.
            model: A reranking ensemble; ``None`` picks the server's only one.
            top_k: Keep the best ``top_k`` documents.
            label: For pair classifiers with several labels (NLI-style), the label whose score ranks.
            batch_size: Pairs per request (default and maximum: the model's ``max_batch_size``).
            concurrency: Requests in flight at once.

        Raises:
            InputError: No documents, or an empty query or document.
            UnsupportedModel: The model does not score pairs, or has several labels and no ``label`` was given.
        """
        if not documents:
            raise InputError("No documents to rerank")
        if model and self.is_multi_vector(model):  # late interaction: MaxSim over token vectors
            query_vectors = self.encode_multi_vector([query], model, query=True)[0].vectors
            vectors = [d.vectors for d in self.encode_multi_vector(documents, model, batch_size=batch_size)]
            scores = multi_vectors.max_sim_scores(query_vectors, vectors)
            return reranking.rank(documents, [(score, ()) for score in scores], None, top_k)
        scored = self.score_pairs([query] * len(documents), documents, model, batch_size=batch_size,
                                  concurrency=concurrency)
        return reranking.rank(documents, scored, label, top_k)

    def score_pairs(self, queries: Sequence[str], passages: Sequence[str], model: str | None = None, *,
                    batch_size: int | None = None, concurrency: int = IN_FLIGHT) -> list[PairScore]:
        """``(score, labels)`` of each (query, passage) pair, in order; labels only for several labels.

        The pairs go through :meth:`stream` in batches of ``batch_size`` with ``concurrency`` requests in flight.
        """
        plan = PairPlan.build(self.interface(self.resolve_reranker(model)), batch_size, len(queries))
        reranking.pair_inputs(queries, passages)  # one error for the whole input before anything is sent
        if not queries:
            return []
        predictions = self.stream(plan, list(zip(queries, passages)), concurrency, sort_window=0)
        return reranking.read_scores(plan.interface, [p.outputs[reranking.SCORES_OUTPUT] for p in predictions])

    def resolve_reranker(self, name: str | None) -> str:
        """``name`` (checked to be ready), or the only reranking ensemble the server holds."""
        if name:
            if not self.connection().model_ready(name):
                self._raise_missing(name)
            return name
        found = [entry.name for entry in self.models()
                 if entry.ready and reranking.is_pair_ensemble(self.interface(entry.name))]
        return self._the_only(found, "reranking ensemble")

    # Multi-vector embeddings ---------------------------------------------------------------------------------

    def encode_multi_vector(self, texts: Iterable[str], model: str | None = None, *, query: bool = False,
                            batch_size: int | None = None) -> list[MultiVector]:
        """Each text's token vectors from a multi-vector (ColBERT) export, as PyLate's ``encode(is_query=…)``.

        Args:
            texts: The texts.
            model: The export's name (``NAME``; queries go to ``NAME_query``); ``None`` picks the only one.
            query: Encode as queries (query marker, ``[MASK]`` expansion) instead of documents.
            batch_size: Texts per request (default and maximum: the model's ``max_batch_size``).

        Raises:
            InputError: An empty text.
            UnsupportedModel: The model does not return token vectors.
        """
        texts = list(texts)
        name = self.resolve_multi_vector(model, query)
        interface = self.interface(name)
        limit = interface.max_batch_size or max(len(texts), 1)
        size = min(batch_size or limit, limit)
        found: list[MultiVector] = []
        for start in range(0, len(texts), size):
            chunk = texts[start:start + size]
            positions = range(start, start + len(chunk))
            try:
                arrays = self.connection().infer(name, multi_vectors.text_inputs(chunk),
                                                 multi_vectors.requested_outputs(interface))
            except ServerRejected as error:
                raise ServerRejected(error.server_message, error.status,
                                     context=f"Model '{name}' rejected {describe_positions(positions)}") from error
            found += [MultiVector(start + i, text, vectors, dense, lexical)
                      for i, (text, (vectors, dense, lexical)) in enumerate(zip(chunk,
                                                                               multi_vectors.read_vectors(arrays)))]
        return found

    def resolve_multi_vector(self, name: str | None, query: bool = False) -> str:
        """The documents' or queries' ensemble of ``name``, or of the server's only multi-vector export."""
        if not name:
            found = [entry.name for entry in self.models() if entry.ready and not entry.name.endswith("_query")
                     and multi_vectors.returns_vectors(self.interface(entry.name))]
            name = self._the_only(found, "multi-vector model")
        query_side = multi_vectors.side(name, True)
        chosen = multi_vectors.side(name, query, self.connection().model_ready(query_side))
        if not self.connection().model_ready(chosen):
            self._raise_missing(chosen)
        if not multi_vectors.returns_vectors(self.interface(chosen)):
            raise UnsupportedModel(f"Model '{chosen}' does not return token vectors (export a ColBERT model)")
        return chosen

    def is_multi_vector(self, name: str) -> bool:
        """Whether ``name`` is a ready multi-vector ensemble."""
        return self.connection().model_ready(name) and multi_vectors.returns_vectors(self.interface(name))

    # Zero-shot classification ---------------------------------------------------------------------------------

    def zero_shot_texts(self, texts: str | Sequence[str], labels: Sequence[str] | str, model: str | None = None, *,
                  template: str | None = None, multi_label: bool = False) -> list[ZeroShotResult]:
        """Classify each text over ``labels`` with an NLI model, as ``pipeline("zero-shot-classification")``.

        Args:
            texts: A text, or several (one request each).
            labels: Candidate labels, or one string of comma-separated labels (split as the pipeline splits it).
            model: The zero-shot model, or the NLI export's name (its ``_zero_shot`` model is called);
                ``None`` picks the server's only zero-shot model.
            template: Hypothesis template with ``{}`` for the label (default: the pipeline's
                ``This example is {}.``).
            multi_label: Score each label on its own (entailment vs contradiction) instead of across labels.

        Raises:
            InputError: An empty text or no labels.
            ServerRejected: The server refused a text (e.g. a template without ``{}``), naming which.
            UnsupportedModel: The model is not a zero-shot model.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        labels = zero_shots.parse_labels(labels) if isinstance(labels, str) else list(labels)
        name = self.resolve_zero_shot(model)
        results = []
        for index, text in enumerate(texts):
            inputs = zero_shots.request(text, labels, template, multi_label)
            try:
                arrays = self.connection().infer(name, inputs, zero_shots.OUTPUTS)
            except ServerRejected as error:
                raise ServerRejected(error.server_message, error.status,
                                     context=f"Model '{name}' rejected text {index + 1}") from error
            results.append(zero_shots.read_result(index, text, arrays))
        return results

    def resolve_zero_shot(self, name: str | None) -> str:
        """The zero-shot model for ``name`` (itself, or the ``_zero_shot`` model beside it), or the only one."""
        if name:
            for candidate in zero_shots.candidate_names(name):
                if self.connection().model_ready(candidate) and zero_shots.takes_labels(self.interface(candidate)):
                    return candidate
            if not self.connection().model_ready(name):
                self._raise_missing(name)
            zero_shots.check_zero_shot(self.interface(name))
            return name
        found = [entry.name for entry in self.models()
                 if entry.ready and zero_shots.takes_labels(self.interface(entry.name))]
        return self._the_only(found, "zero-shot model")

    # Errors ----------------------------------------------------------------------------------------------------

    def _the_only(self, found: list[str], kind: str) -> str:
        """The one ready model of ``kind`` on the server, else an error saying there are none or several."""
        if len(found) == 1:
            return found[0]
        if not found:
            raise ClientError(f"Triton at {self.url} holds no ready {kind}; name a model with --model")
        raise UsageProblem(f"Triton at {self.url} holds several {kind}s ({', '.join(found)}); "
                           "choose one with --model or TRITON_MODEL")

    def _about(self, name: str, request: Callable[[], Any]) -> Any:
        try:
            return request()
        except ModelNotFound:
            self._raise_missing(name)

    def _state_of(self, name: str) -> str:
        entries = [entry for entry in self.models() if entry.name == name]
        return entries[-1].describe() if entries else "not found"

    def _raise_missing(self, name: str) -> None:
        """Raise :class:`ModelNotFound` (listing the models there are) or :class:`ModelNotReady` (with its state)."""
        entries = self.models()
        found = [entry for entry in entries if entry.name == name]
        if found and not found[-1].ready:
            raise ModelNotReady(f"Model '{name}' is not ready on Triton at {self.url}: {found[-1].describe()}")
        if found:  # Ready by the index, yet the server refused: it raced a load or unload.
            raise ModelNotReady(f"Model '{name}' is not ready on Triton at {self.url}")
        available = ", ".join(sorted({entry.name for entry in entries})) or "none"
        raise ModelNotFound(f"Model '{name}' not found on Triton at {self.url}; available: {available}")


def describe_positions(indices: Sequence[int]) -> str:
    """``text at index 3``, ``texts at index 3-5``, or ``texts at index 9, 3, 12 (in request order)``.

    Indices are 0-based, as in :attr:`Prediction.index`; the request order lets a reader map the server's
    "item N" (0-based within the request) to a text.
    """
    numbers = list(indices)
    if len(numbers) == 1:
        return f"text at index {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
        return f"texts at index {numbers[0]}-{numbers[-1]}"
    return f"texts at index {', '.join(map(str, numbers))} (in request order)"
