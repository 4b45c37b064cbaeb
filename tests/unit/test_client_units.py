"""Client pieces that need no server: URL parsing, text input, classification strings, batching, rendering."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2 as mc

from client import output
from client.batching import ordered_map, restore_order, sorted_batches
from client.connection import Endpoint
from client.errors import InputError, UnsupportedModel, UsageProblem
from client.metadata import Health, ModelInterface, RepositoryEntry
from client.plan import ALL_CLASSES, RequestPlan
from client.results import Label, Prediction, parse_classes, split_token_classes
from client.texts import parse_jsonl, parse_lines, read_file

# -- endpoints -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "protocol", "address", "expected_protocol", "shown"), [
    (None, None, "localhost:8000", "http", "http://localhost:8000"),
    (None, "grpc", "localhost:8001", "grpc", "grpc://localhost:8001"),
    ("example.org", None, "example.org:8000", "http", "http://example.org:8000"),
    ("http://10.0.0.1:9000/", None, "10.0.0.1:9000", "http", "http://10.0.0.1:9000"),
    ("grpc://host:1234", None, "host:1234", "grpc", "grpc://host:1234"),
    ("https://host", None, "host:8000", "http", "https://host:8000"),
    ("host:8001", "grpc", "host:8001", "grpc", "grpc://host:8001"),
])
def test_endpoint_parses_urls(url, protocol, address, expected_protocol, shown) -> None:
    endpoint = Endpoint.parse(url, protocol)
    assert (endpoint.address, endpoint.protocol, endpoint.url) == (address, expected_protocol, shown)


def test_endpoint_refuses_contradictions() -> None:
    with pytest.raises(UsageProblem, match="URL 'grpc://h:1' is a grpc URL but the protocol is http"):
        Endpoint.parse("grpc://h:1", "http")
    with pytest.raises(UsageProblem, match=r"Unknown URL scheme 'ftp://'"):
        Endpoint.parse("ftp://h:1")
    with pytest.raises(UsageProblem, match="Unknown protocol 'soap'"):
        Endpoint.parse("h:1", "soap")


# -- texts ---------------------------------------------------------------------------------------------------


def test_lines_skip_blanks_and_handle_crlf_and_bom() -> None:
    assert parse_lines(b"\xef\xbb\xbffirst\r\n\nsecond\n   \nthird", "in.txt") == ["first", "second", "third"]


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(InputError) as error:
        parse_lines(b"ok\nalso ok\n" + b"bad \xff byte\n", "texts.txt")
    assert str(error.value) == "texts.txt line 3 is not valid UTF-8 (byte 5)"


def test_jsonl_takes_one_field_and_names_bad_lines() -> None:
    assert parse_jsonl(b'{"text": "a", "id": 1}\n\n{"text": "b"}\n', "in.jsonl") == ["a", "b"]
    assert parse_jsonl(b'{"body": "x"}\n', "in.jsonl", field="body") == ["x"]
    with pytest.raises(InputError, match="^in.jsonl line 2 has no string field 'text'$"):
        parse_jsonl(b'{"text": "a"}\n{"title": "b"}\n', "in.jsonl")
    with pytest.raises(InputError, match="^in.jsonl line 1 is not valid JSON: "):
        parse_jsonl(b"not json\n", "in.jsonl")


def test_jsonl_is_chosen_by_suffix(tmp_path: Path) -> None:
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "hello"}\n')
    assert read_file(path) == ["hello"]
    with pytest.raises(InputError, match="^Cannot read .*missing.txt: No such file or directory$"):
        read_file(tmp_path / "missing.txt")


# -- classification strings ----------------------------------------------------------------------------------


def test_parse_classes_with_and_without_labels() -> None:
    assert parse_classes(np.array([b"0.75:2:positive", b"0.25:0"], dtype=object)) == [
        Label("positive", 0.75, 2), Label("0", 0.25, 0)]


def test_token_classes_are_regrouped_from_the_flat_ranking() -> None:
    # Two tokens × three labels; Triton ranks the six elements as one vector and names flat indices 0-2 only.
    flat = [b"0.9:4", b"0.8:0:O", b"0.5:3", b"0.4:2:B-PER", b"0.2:1:B-ORG", b"0.1:5"]
    tokens = split_token_classes(parse_classes(np.array(flat, dtype=object)), num_labels=3, top_k=2)
    assert tokens == (
        (Label("O", 0.8, 0), Label("B-PER", 0.4, 2)),
        (Label("B-ORG", 0.9, 1), Label("O", 0.5, 0)),
    )


# -- plans ---------------------------------------------------------------------------------------------------


def _interface(**overrides) -> ModelInterface:
    config = mc.ModelConfig(
        name="m", platform="ensemble", max_batch_size=8,
        input=[mc.ModelInput(name="TEXT", data_type=mc.TYPE_STRING, dims=[1])],
        output=[mc.ModelOutput(name="logits", data_type=mc.TYPE_FP32, dims=[3], label_filename="labels.txt"),
                mc.ModelOutput(name="probabilities", data_type=mc.TYPE_FP32, dims=[3], label_filename="labels.txt")],
    )
    for key, value in overrides.items():
        config.ClearField(key)
        getattr(config, key).extend(value) if isinstance(value, list) else setattr(config, key, value)
    return ModelInterface.from_config(config)


def test_plan_asks_scores_through_the_classification_extension() -> None:
    plan = RequestPlan.build(_interface(), batch_size=100, top_k=2)
    assert plan.batch_size == 8  # capped at max_batch_size
    assert [(o.name, o.class_count) for o in plan.outputs()] == [("logits", 0), ("probabilities", 2)]
    assert [(o.name, o.class_count) for o in RequestPlan.build(_interface()).outputs()][1] == ("probabilities", 3)
    name, datatype, array = plan.inputs(["a", "ü"])[0]
    assert (name, datatype, array.shape, array[1, 0]) == ("TEXT", "BYTES", (2, 1), "ü".encode())


def test_plan_asks_every_element_of_per_token_outputs() -> None:
    outputs = [mc.ModelOutput(name="probabilities", data_type=mc.TYPE_FP32, dims=[-1, 4], label_filename="l.txt")]
    plan = RequestPlan.build(_interface(output=outputs))
    assert [(o.name, o.class_count) for o in plan.outputs()] == [("probabilities", ALL_CLASSES)]


def test_plan_refusals() -> None:
    embeddings = [mc.ModelOutput(name="embeddings", data_type=mc.TYPE_FP32, dims=[4])]
    with pytest.raises(UnsupportedModel, match="^Model 'm' has no labelled output"):
        RequestPlan.build(_interface(output=embeddings), top_k=1)
    tokens = [mc.ModelInput(name="input_ids", data_type=mc.TYPE_INT64, dims=[-1])]
    with pytest.raises(UnsupportedModel, match=r"^Model 'm' takes token tensors \(input_ids\), not text: pass --tok"):
        RequestPlan.build(_interface(input=tokens))
    odd = [mc.ModelInput(name="input_ids", data_type=mc.TYPE_INT64, dims=[-1]),
           mc.ModelInput(name="position_ids", data_type=mc.TYPE_INT64, dims=[-1])]
    with pytest.raises(UnsupportedModel, match="tokenizer does not produce: position_ids"):
        RequestPlan.build(_interface(input=odd))
    images = [mc.ModelInput(name="image", data_type=mc.TYPE_FP32, dims=[3, 8, 8])]
    with pytest.raises(UnsupportedModel, match=r"neither text nor token tensors; its inputs: image \(FP32\)"):
        RequestPlan.build(_interface(input=images))


def test_torchscript_scores_are_found_under_their_suffixed_name() -> None:
    outputs = [mc.ModelOutput(name="logits__0", data_type=mc.TYPE_FP32, dims=[3], label_filename="l.txt"),
               mc.ModelOutput(name="probabilities__1", data_type=mc.TYPE_FP32, dims=[3], label_filename="l.txt")]
    assert _interface(output=outputs).score_output().name == "probabilities__1"


# -- batching ------------------------------------------------------------------------------------------------


def test_batches_in_input_order_without_a_window() -> None:
    assert sorted_batches([5, 1, 4, 2, 3, 9, 7], 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert sorted_batches([], 3) == []


def test_batches_group_similar_lengths_within_windows() -> None:
    lengths = [50, 1, 40, 2, 30, 3, 9, 8]
    assert sorted_batches(lengths, 2, window=6) == [[1, 3], [5, 4], [2, 0], [7, 6]]


def test_restore_order_yields_as_soon_as_the_prefix_is_complete() -> None:
    arrived = iter([[(1, "b"), (3, "d")], [(0, "a")], [(2, "c")]])
    restored = restore_order(arrived)
    assert next(restored) == "a"
    assert next(restored) == "b"
    assert list(restored) == ["c", "d"]
    with pytest.raises(ValueError, match="indices missing before 2"):
        list(restore_order([[(0, "a"), (2, "c")]]))


def test_ordered_map_keeps_order_and_limits_concurrency() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def slow(item: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02 * (item % 3))  # later items often finish first
        with lock:
            running[0] -= 1
        return item * 10

    assert list(ordered_map(slow, range(20), concurrency=4)) == [i * 10 for i in range(20)]
    assert 1 < peak[0] <= 4


def test_ordered_map_stops_at_the_first_error() -> None:
    started = []

    def fail_at_two(item: int) -> int:
        started.append(item)
        if item == 2:
            raise ValueError("boom")
        return item

    results = ordered_map(fail_at_two, range(100), concurrency=2)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ValueError, match="boom"):
        list(results)
    assert len(started) < 100


# -- rendering -----------------------------------------------------------------------------------------------


def test_rendering_of_predictions() -> None:
    labelled = Prediction(0, "a text", labels=(Label("positive", 0.91234, 2), Label("negative", 0.05, 0)))
    assert output.summary(labelled) == "positive 0.9123"
    assert output.summary(labelled, top_k=2) == "positive 0.9123, negative 0.0500"
    vector = Prediction(1, "b", outputs={"embeddings": np.arange(6, dtype=np.float32)})
    assert output.summary(vector) == "embeddings: 6 dims [0.0000, 1.0000, 2.0000, 3.0000, …]"
    tokens = Prediction(2, "c", token_labels=((Label("O", 0.9, 0),), (Label("B-PER", 0.8, 1),)))
    assert output.summary(tokens) == "2 tokens: O B-PER"
    assert output.prediction_row(vector).startswith("     2  b  ")
    assert vector.to_record() == {"index": 1, "text": "b", "outputs": {"embeddings": [0, 1, 2, 3, 4, 5]}}
    strings = Prediction(3, "d", outputs={"tags": np.array([b"x", "\u00fc".encode()], dtype=np.object_)})
    assert strings.to_record()["outputs"] == {"tags": ["x", "\u00fc"]}


def test_rendering_of_health_and_models() -> None:
    assert output.health_line(Health("http://h:1", live=True, ready=False, model="m", model_ready=False,
                                     model_state="LOADING")) == "http://h:1: live, not ready; model m: LOADING"
    table = output.models_table([RepositoryEntry("a", "1", "READY"),
                                 RepositoryEntry("b", "1", "UNAVAILABLE", "Internal: boom\n\nAt:\n  model.py(3)"),
                                 RepositoryEntry("c")])
    assert table.splitlines() == [
        "MODEL  VERSION  STATE        REASON",
        "a      1        READY",
        "b      1        UNAVAILABLE  Internal: boom",
        "c      -        not loaded",
    ]


def test_an_optional_prompt_input_keeps_a_text_ensemble_a_text_ensemble() -> None:
    from client.metadata import ModelInterface

    config = mc.ModelConfig(name="e5", platform="ensemble", max_batch_size=8, input=[
        mc.ModelInput(name="TEXT", data_type=mc.TYPE_STRING, dims=[1]),
        mc.ModelInput(name="PROMPT_NAME", data_type=mc.TYPE_STRING, dims=[1], optional=True)])
    interface = ModelInterface.from_config(config)
    assert interface.is_text_ensemble and [t.name for t in interface.inputs] == ["TEXT"]
