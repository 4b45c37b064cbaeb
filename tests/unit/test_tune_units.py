"""``tune``'s pure logic: knobs in and out of configs, scores, the load ladder, the frontier, the search, the report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from client.bench_report import LevelResult
from tritonize.repo_format.pbtxt import read_config, render
from tritonize.repo_format.tokenizer_encoding import PAD_TO_MULTIPLE_OF_KEY
from tune import report, space
from tune.cli import locate
from tune.knobs import Ensemble, Knobs, apply_knobs, changed_models, read_knobs
from tune.objective import Score, Target, best_level, frontier, next_concurrency, queue_policy_for, score
from tune.search import CoordinateSearch, single
from tune.write import write_winner


def configs() -> dict[str, mc.ModelConfig]:
    """An ensemble as export writes it for CPU: tokenizer (Python backend) → ONNX model."""
    policy = mc.ModelQueuePolicy(timeout_action=mc.ModelQueuePolicy.REJECT, default_timeout_microseconds=1_000_000,
                                 allow_timeout_override=True, max_queue_size=64)
    tokenizer = mc.ModelConfig(
        name="m_tokenizer", backend="python", max_batch_size=64,
        instance_group=[mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)],
        parameters={PAD_TO_MULTIPLE_OF_KEY: mc.ModelParameter(string_value="8"),
                    "max_length": mc.ModelParameter(string_value="128")},
        dynamic_batching=mc.ModelDynamicBatching(max_queue_delay_microseconds=100, default_queue_policy=policy))
    onnx = mc.ModelConfig(
        name="m_onnx", platform="onnxruntime_onnx", max_batch_size=64,
        instance_group=[mc.ModelInstanceGroup(kind=mc.ModelInstanceGroup.KIND_CPU, count=3)],
        parameters={"intra_op_thread_count": mc.ModelParameter(string_value="1")},
        dynamic_batching=mc.ModelDynamicBatching(max_queue_delay_microseconds=500, default_queue_policy=policy),
        model_warmup=[mc.ModelWarmup(name="batch_1", batch_size=1), mc.ModelWarmup(name="batch_64", batch_size=64)])
    ensemble = mc.ModelConfig(name="m", platform="ensemble", max_batch_size=64,
                              input=[mc.ModelInput(name="TEXT", data_type=mc.TYPE_STRING, dims=[1])],
                              ensemble_scheduling=mc.ModelEnsembling(
        step=[mc.ModelEnsembling.Step(model_name="m_tokenizer", model_version=-1),
              mc.ModelEnsembling.Step(model_name="m_onnx", model_version=-1)]))
    return {"m": ensemble, "m_tokenizer": tokenizer, "m_onnx": onnx}


ROLES = Ensemble.from_configs("m", configs())
DEFAULTS = Knobs(instance_count=3, threads_per_instance=1, max_batch_size=64, max_queue_delay_us=500,
                 preferred_batch_sizes=(), pad_to_multiple_of=8, tokenizer_instance_count=1,
                 tokenizer_queue_delay_us=100, max_queue_size=64, queue_timeout_ms=1000)


def level(concurrency: int, throughput: float, p99: float, p50: float | None = None) -> LevelResult:
    return LevelResult("m", concurrency, None, throughput, p50 or p99 / 2, p99, p99, p99 / 2, 0, 0, 0)


# -- knobs ------------------------------------------------------------------------------------------------------

def test_roles_and_knobs_read_from_the_configs() -> None:
    assert (ROLES.tokenizer, ROLES.artifact, ROLES.steps) == ("m_tokenizer", "m_onnx", ("m_tokenizer", "m_onnx"))
    assert read_knobs(configs(), ROLES) == DEFAULTS


def test_a_non_ensemble_or_one_that_takes_no_text_is_refused() -> None:
    with pytest.raises(ValueError, match="not a text ensemble"):
        Ensemble.from_configs("m_onnx", configs())
    images = configs()
    images["m"].input[0].name = "IMAGE"
    with pytest.raises(ValueError, match="not a text ensemble"):
        Ensemble.from_configs("m", images)


def test_apply_then_read_gives_the_knobs_back_and_leaves_the_input_alone() -> None:
    knobs = Knobs(instance_count=2, threads_per_instance=0, max_batch_size=16, max_queue_delay_us=0,
                  preferred_batch_sizes=(4, 8, 32), pad_to_multiple_of=1, tokenizer_instance_count=2,
                  tokenizer_queue_delay_us=0, max_queue_size=12, queue_timeout_ms=30)
    before = configs()
    new = apply_knobs(before, ROLES, knobs)
    assert before == configs()
    assert read_knobs(new, ROLES) == replace(knobs, preferred_batch_sizes=(4, 8))  # 32 > max batch size: dropped
    onnx = new["m_onnx"]
    assert "intra_op_thread_count" not in onnx.parameters  # 0: the backend's own threads
    assert [w.batch_size for w in onnx.model_warmup] == [1, 16]  # warm-ups fit the new max batch size
    assert new["m"].max_batch_size == new["m_tokenizer"].max_batch_size == 16  # the ensemble within its steps
    assert onnx.dynamic_batching.default_queue_policy.timeout_action == mc.ModelQueuePolicy.REJECT
    assert new["m_tokenizer"].parameters["max_length"].string_value == "128"  # other parameters kept
    assert changed_models(before, new) == ["m", "m_tokenizer", "m_onnx"]
    only_delay = apply_knobs(before, ROLES, replace(DEFAULTS, max_queue_delay_us=0))
    assert changed_models(before, only_delay) == ["m_onnx"]


def test_a_one_step_model_plays_every_role_and_keeps_its_own_instances_and_delay() -> None:
    from export.settings import ExportSettings
    from export.triton_config import ModelNames, one_step_config
    from tritonize.contract import Signature, Task
    from tritonize.repo_format.tokenizer_encoding import TokenizerParameters

    signature = Signature.build(Task.FEATURE_EXTRACTION, ["input_ids", "attention_mask"], 32, 0)
    one = one_step_config(ModelNames("m"), signature, ExportSettings(instance_kind="cpu"),
                          TokenizerParameters(128, 8, 0), has_labels=False)
    roles = Ensemble.from_configs("m", {"m": one})
    assert (roles.ensemble, roles.tokenizer, roles.artifact, roles.steps, roles.one_step) == ("m", "m", "m", ("m",),
                                                                                              True)
    knobs = read_knobs({"m": one}, roles)
    assert (knobs.instance_count, knobs.threads_per_instance, knobs.max_queue_delay_us, knobs.pad_to_multiple_of) == \
        (3, 1, 500, 8)
    new = apply_knobs({"m": one}, roles, replace(knobs, instance_count=2, max_queue_delay_us=0, pad_to_multiple_of=1,
                                                 tokenizer_instance_count=5, tokenizer_queue_delay_us=100))
    config = new["m"]
    assert [g.count for g in config.instance_group] == [2]  # the tokenizer's knobs do not overwrite the model's
    assert config.dynamic_batching.max_queue_delay_microseconds == 0
    assert config.parameters[PAD_TO_MULTIPLE_OF_KEY].string_value == "1"
    searched = {knob for axis in space.axes(2, tokenizer_model=False) for knob in axis.fields}
    assert "pad_to_multiple_of" in searched and not {"tokenizer_instance_count", "tokenizer_queue_delay_us"} & searched


def test_describe_names_only_what_changed() -> None:
    assert DEFAULTS.describe(DEFAULTS) == "defaults"
    assert replace(DEFAULTS, pad_to_multiple_of=1, preferred_batch_sizes=(4, 8)).describe(DEFAULTS) == \
        "preferred_batch_sizes=(4,8), pad_to_multiple_of=1"


# -- objective --------------------------------------------------------------------------------------------------

def test_score_under_a_p99_budget_is_the_best_throughput_within_it() -> None:
    target = Target(p99_ms=50)
    points = [level(1, 100, 10), level(4, 300, 40), level(8, 350, 80)]
    assert score(points, target) == Score(True, 300)
    assert best_level(points, target).concurrency == 4
    assert score([level(1, 100, 70)], target) == Score(False, -70)
    assert Score(True, 1).beats(Score(False, 1000), 0.03)
    assert Score(True, 104).beats(Score(True, 100), 0.03) and not Score(True, 102).beats(Score(True, 100), 0.03)
    assert Score(True, 300).ratio(Score(True, 200)) == 1.5


def test_score_at_a_required_rate_is_the_lowest_p99_that_sustains_it() -> None:
    target = Target(min_throughput=200)
    assert score([level(0, 195, 30)], target) == Score(True, -30)
    assert score([level(0, 150, 30)], target) == Score(False, 150)
    assert Score(True, -20).ratio(Score(True, -30)) == 1.5  # 30 ms → 20 ms: 1.5x better
    with pytest.raises(ValueError):
        Target()


def test_the_ladder_climbs_while_within_budget_and_growing_and_steps_down_when_over() -> None:
    assert next_concurrency([], 50, start=4) == 4
    assert next_concurrency([level(4, 300, 40)], 50, 4) == 8
    assert next_concurrency([level(4, 300, 40), level(8, 350, 45)], 50, 4) == 16
    assert next_concurrency([level(4, 300, 40), level(8, 350, 80)], 50, 4) is None  # over the budget
    assert next_concurrency([level(4, 300, 40), level(8, 302, 45)], 50, 4) is None  # no longer growing
    assert next_concurrency([level(4, 300, 60)], 50, 4) == 2  # over at the start: step down
    assert next_concurrency([level(1, 100, 60)], 50, 1) is None


def test_frontier_keeps_only_the_points_nothing_dominates() -> None:
    points = [level(1, 100, 10), level(2, 90, 20), level(4, 300, 40), level(8, 280, 30), level(16, 350, 90)]
    assert [(p.throughput, p.p99_ms) for p in frontier(points)] == [(100, 10), (280, 30), (300, 40), (350, 90)]


def test_queue_policy_leaves_the_budget_to_waiting_by_littles_law() -> None:
    assert queue_policy_for(throughput=400, p50_ms=10, budget_ms=60) == (20, 25)  # 400/s x 50 ms; 50 ms / 2
    assert queue_policy_for(throughput=400, p50_ms=80, budget_ms=60) == (1, 1)  # no slack: refuse early


# -- space and search ---------------------------------------------------------------------------------------------

def test_layouts_split_the_cores_and_add_one_instance() -> None:
    two = space.layouts(2, 0)
    assert (3, 1) in two and (2, 1) in two and (1, 2) in two and (1, 0) in two
    assert all(count * max(threads, 1) <= 4 for count, threads in two)
    assert space.layouts(16, 2) == ((1, 0), (2, 0), (3, 0), (4, 0))  # per GPU
    assert [a.name for a in space.axes(2, variants=("int8",))][:2] == ["layout", "variant"]


def objective(knobs: Knobs) -> Score:
    """Throughput peaking at 2 instances and a 100 µs delay; pad multiple does not matter."""
    value = 300 - 40 * abs(knobs.instance_count - 2) - 0.05 * abs(knobs.max_queue_delay_us - 100)
    return Score(True, value)


AXES = [single("instance_count", (1, 2, 3, 4)), single("max_queue_delay_us", (0, 100, 500, 1000, 2000, 5000)),
        single("pad_to_multiple_of", (1, 8, 16, 32))]


def test_search_finds_the_peak_prunes_flat_knobs_and_repeats_itself() -> None:
    first = CoordinateSearch(AXES, min_gain=0.01)
    best = first.run(DEFAULTS, objective, lambda: False)
    assert (best.knobs.instance_count, best.knobs.max_queue_delay_us) == (2, 100)
    assert "pad_to_multiple_of" in first.flat
    assert len({t.knobs for t in first.trials}) == len(first.trials)  # nothing measured twice
    assert len(first.trials) < 4 * 6 * 4  # far from the grid
    again = CoordinateSearch(AXES, min_gain=0.01)
    again.run(DEFAULTS, objective, lambda: False)
    assert [t.knobs for t in again.trials] == [t.knobs for t in first.trials]  # deterministic order


def test_search_stops_at_the_budget_with_the_best_so_far() -> None:
    calls = []
    search = CoordinateSearch(AXES, min_gain=0.01)
    best = search.run(DEFAULTS, lambda k: calls.append(k) or objective(k), lambda: len(calls) >= 3)
    assert len(search.trials) == 3 and best is not None
    assert best.score == max(t.score for t in search.trials[:1]) or best.score.beats(search.trials[0].score, 0.01)
    cut = CoordinateSearch(AXES, min_gain=0.01)
    assert cut.run(replace(DEFAULTS, instance_count=1), objective, lambda: len(cut.trials) >= 2).knobs == \
        replace(DEFAULTS, instance_count=2)  # found on the axis walked when time ran out: it still counts
    seed_only = CoordinateSearch(AXES)
    assert seed_only.run(DEFAULTS, objective, lambda: True).knobs == DEFAULTS  # the defaults are always measured
    assert len(seed_only.trials) == 1


def test_search_walks_a_direction_only_while_it_improves() -> None:
    search = CoordinateSearch([AXES[1]], min_gain=0.01, max_passes=1)
    search.run(replace(DEFAULTS, instance_count=2, max_queue_delay_us=500), objective, lambda: False)
    tried = [t.knobs.max_queue_delay_us for t in search.trials]
    assert tried == [500, 1000, 100, 0]  # 1000 is worse: 2000 and 5000 are never tried


def test_an_unordered_axis_tries_every_value() -> None:
    scores = {"fp32": 100.0, "optimize": 80.0, "int8": 130.0}
    search = CoordinateSearch([single("variant", ("fp32", "optimize", "int8"), ordered=False)], max_passes=1)
    best = search.run(DEFAULTS, lambda k: Score(True, scores[k.variant]), lambda: False)
    assert [t.knobs.variant for t in search.trials] == ["fp32", "optimize", "int8"] and best.knobs.variant == "int8"


# -- report and write -------------------------------------------------------------------------------------------

def outcome(rows: list[report.Row]) -> report.Outcome:
    return report.Outcome("m", Target(p99_ms=50), tuple(rows), rows[0].knobs, rows[-1], rows[-1].knobs, None,
                          ("pad_to_multiple_of",), (), {"cores": 2}, 12.0)


def test_table_plot_json_and_the_rerun_comparison(tmp_path: Path) -> None:
    rows = [report.Row(1, "start", DEFAULTS, Score(True, 200), (level(4, 200, 40),)),
            report.Row(2, "layout", replace(DEFAULTS, instance_count=2), Score(True, 260),
                       (level(4, 230, 30), level(8, 260, 45)))]
    result = outcome(rows)
    text = report.markdown(result)
    assert "| 2 | layout | instance_count=2 **winner** | 260 infer/s | c8 | 260 |" in text
    assert "Winner #2: instance_count=2: 260 infer/s, 1.30x the defaults' throughput (same run)." in text
    assert "Pruned (no value moved the score): pad_to_multiple_of" in text
    report.write(result, tmp_path)
    assert (tmp_path / "tune.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "tune.json").read_text())
    assert saved["winner"] == 2 and saved["ratio"] == pytest.approx(1.3)
    assert report.compare(saved, result) == ["Rerun: the same winner as the previous run."]
    moved = outcome([rows[0], replace(rows[1], knobs=replace(DEFAULTS, instance_count=4))])
    assert report.compare(saved, moved)[0] == "Rerun: the winner changed."


def test_write_adds_a_version_of_only_the_models_the_winner_changes(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    for name, config in configs().items():
        (repository / name / "1").mkdir(parents=True)
        (repository / name / "config.pbtxt").write_text(render(config))
        if name == "m_onnx":
            (repository / name / "1" / "model.onnx").write_bytes(b"graph")
    winner = replace(DEFAULTS, max_queue_delay_us=0, pad_to_multiple_of=1)
    version, written = write_winner(repository, ROLES, configs(), winner)
    assert (version, written) == (2, ["m_tokenizer", "m_onnx"])
    assert (repository / "m_onnx" / "2" / "model.onnx").read_bytes() == b"graph"
    assert (repository / "m_onnx" / "1").is_dir() and not (repository / "m" / "2").exists()
    assert read_knobs({n: read_config(repository / n) for n in configs()}, ROLES) == winner
    assert write_winner(repository, ROLES, {n: read_config(repository / n) for n in configs()}, winner) == (0, [])


def test_the_ratio_comes_from_the_back_to_back_confirmation_when_there_is_one() -> None:
    faster = replace(DEFAULTS, instance_count=2)
    rows = [report.Row(1, "start", DEFAULTS, Score(True, 200), (level(4, 200, 40),)),
            report.Row(2, "layout", faster, Score(True, 300), (level(4, 300, 40),)),
            report.Row(3, "confirm", DEFAULTS, Score(True, 220), (level(4, 220, 40),)),
            report.Row(4, "confirm", faster, Score(True, 264), (level(4, 264, 40),))]
    result = replace(outcome(rows), winner=rows[1], confirmation=(3, 4))
    assert result.ratio == pytest.approx(1.2)
    text = report.markdown(result)
    assert "Measured again back to back: the defaults (#3) 220 infer/s, the search's best (#4: instance_count=2) " \
        "264 infer/s: 1.20x throughput." in text
    assert "Winner #2: instance_count=2: 300 infer/s, 1.20x the defaults' throughput (same run)." in text
    stayed = replace(result, winner=rows[2])
    assert stayed.ratio == 1.0 and "Winner #3: defaults: 220 infer/s." in report.markdown(stayed)


def test_the_model_is_a_name_in_the_repository_or_the_path_of_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "m"
    folder.mkdir(parents=True)
    (folder / "config.pbtxt").write_text("")
    assert locate("m", tmp_path / "repo") == (tmp_path / "repo", "m")
    assert locate(str(folder), Path("model_repository")) == ((tmp_path / "repo").resolve(), "m")
