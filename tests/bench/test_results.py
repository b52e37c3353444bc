"""The committed benchmark results that the docs and their targets read keep their promised keys."""

from __future__ import annotations

import json
import math
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def test_hinton_mnist_result_keys():
    d = _load("hinton_mnist.json")
    e_t, e_s, e_d = d["teacher_errors"], d["student_errors"], d["distilled_errors"]
    assert all(isinstance(e, int) and 0 <= e <= 10_000 for e in (e_t, e_s, e_d))
    assert math.isclose(d["gap_closure"], (e_s - e_d) / (e_s - e_t))  # a fraction, derived from the counts
    assert "online" in d["settings"]["distilled"] and "offline" in d["settings"]["paper_protocol"]
    e_p = d["paper_protocol_distilled_errors"]
    assert math.isclose(d["paper_protocol_gap_closure"], (e_s - e_p) / (e_s - e_t))


def test_people_presence_result_keys():
    d = _load("people_presence.json")
    for row in ("teacher", "student", "distilled"):
        r = d[row]
        assert 0 <= r["f1_at_0.5"] <= 1 and 0 <= r["roc_auc"] <= 1
        assert r["size_bytes"] > 0 and r["ms_per_image"] > 0
    t, s = d["teacher"], d["distilled"]
    want = 0.5 * s["size_bytes"] / t["size_bytes"] + 0.5 * (1 - s["top1"] / t["top1"])
    assert math.isclose(d["distillation_score"], want)


def test_hinton_temperature_choice_was_made_on_validation():
    """The temperature table (benchmarks/LOG.md): each file is a validation run at its T, all share one teacher and
    student."""
    runs = {t: _load(f"hinton_mnist_val_T{t}.json") for t in (20, 8, 3)}
    for t, d in runs.items():
        assert d["settings"]["temperature"] == t and d["settings"]["val_fraction"] == 0.1
        assert set(d["val"]) == {"teacher", "student", "distilled"}
    assert len({(d["val"]["teacher"], d["val"]["student"]) for d in runs.values()}) == 1  # reused, not retrained
    assert max(runs, key=lambda t: runs[t]["val"]["distilled"]) == 20  # the benchmark's default T is the best
    others = [_load(f"hinton_mnist_val_{k}.json") for k in ("alpha1", "epochs150")]
    assert others[0]["settings"]["alpha"] == 1.0 and others[1]["epochs"]["distilled"] == 150
    assert all(d["val"]["distilled"] < runs[20]["val"]["distilled"] for d in others)  # LOG: "did not help"


def _val_errors(d: dict, key: str) -> int:
    return round((1 - d["val"][key]) * 5_999)


def test_hinton_teacher_and_student_variants_did_not_pass_the_adoption_rule():
    """benchmarks/LOG.md: teacher / student variants on validation; adopted only at <= 69 distilled errors, and none
    was."""
    base = _load("hinton_mnist_val_T20.json")
    assert (_val_errors(base, "teacher"), _val_errors(base, "student"), _val_errors(base, "distilled")) == (66, 97, 74)
    expect = {"maxnorm2": ("teacher_max_norm", 2.0), "teacher30": ("teacher", 30), "teacher45": ("teacher", 45),
              "fp32": ("bf16_autocast", False), "lr002": ("distill_lr", 0.02), "lr007": ("distill_lr", 0.07),
              "T40": ("temperature", 40.0)}
    for name, (key, value) in expect.items():
        d = _load(f"hinton_mnist_val_{name}.json")
        got = d["epochs"][key] if key == "teacher" else d["settings"][key]
        assert got == value and d["settings"]["val_fraction"] == 0.1 and d["seed"] == 0, name
        assert _val_errors(d, "student") == 97, name  # the same student alone in every run
        assert _val_errors(d, "distilled") > 69, name  # the rule: adopt only at <= 69
        if name in ("fp32", "lr002", "lr007", "T40"):  # student-side runs reuse the baseline's teacher
            assert d["val"]["teacher"] == base["val"]["teacher"], name
    assert _val_errors(_load("hinton_mnist_val_teacher45.json"), "teacher") < _val_errors(base, "teacher")


def test_hinton_seed_replications_match_the_headline_protocol():
    """Seeds 1 and 2 re-run the headline's exact settings; each file's closure derives from its own counts."""
    head = _load("hinton_mnist.json")
    for seed in (1, 2):
        d = _load(f"hinton_mnist_seed{seed}.json")
        assert d["seed"] == seed and d["settings"] == head["settings"] and d["epochs"] == head["epochs"]
        e_t, e_s, e_d = d["teacher_errors"], d["student_errors"], d["distilled_errors"]
        assert math.isclose(d["gap_closure"], (e_s - e_d) / (e_s - e_t))
        e_p = d["paper_protocol_distilled_errors"]
        assert math.isclose(d["paper_protocol_gap_closure"], (e_s - e_p) / (e_s - e_t))


def test_squeezenet_init_results_back_the_readme():
    """docs/results/squeezenet_init.md: the default init fades the signal and never trains; He + leaky / bn train."""
    d = _load("squeezenet_init.json")
    assert d["signal"]["default_init"]["trunk_std_over_input_std"] < 0.1 < d["signal"]["he"]["trunk_std_over_input_std"]
    runs = {r["name"]: r for r in d["runs"]}
    assert set(runs) == {"default_relu", "default_leaky", "he_relu", "he_leaky", "he_bn"}
    for name in ("default_relu", "default_leaky", "he_relu"):  # stuck at ln 2 from epoch 2 on
        assert all(abs(loss - math.log(2)) < 0.002 for loss in runs[name]["train_loss"][1:]), name
        assert runs[name]["test"]["roc_auc"] <= 0.5 + 1e-9, name
    for name in ("he_leaky", "he_bn"):
        assert runs[name]["train_loss"][-1] < 0.5 * math.log(2) and runs[name]["test"]["roc_auc"] > 0.9, name
    assert runs["he_bn"]["test"]["f1_at_0.5"] > runs["he_leaky"]["test"]["f1_at_0.5"]


def test_face_embedding_result_and_the_shipped_dlib_threshold():
    """The face benchmark's rows, and dlib-face's calibrated threshold is the one the benchmark measured."""
    from edgevision.compress.distill.dlib_face import CALIBRATION

    d = _load("face_embedding.json")
    for row in ("dlib-face", "student", "student_evz"):
        r = d["rows"][row]
        assert 0 <= r["lfw_devtest_rank1"] <= 1 and 0 <= r["orl_rank1"] <= 1 and 0 <= r["lfw_pairs"]["accuracy"] <= 1
        assert r["ms_per_face_1t"] > 0 and r["bytes"] > 0
    # the gap is the shipped file's (the packed student), the speed-up the float network's (the same per face)
    gap = 100 * (d["rows"]["dlib-face"]["lfw_devtest_rank1"] - d["rows"]["student_evz"]["lfw_devtest_rank1"])
    assert math.isclose(d["rank1_gap_points"], gap)
    assert math.isclose(d["speedup"], d["rows"]["dlib-face"]["ms_per_face_1t"] / d["rows"]["student"]["ms_per_face_1t"])
    measured = d["rows"]["dlib-face"]["threshold"][str(CALIBRATION["far"])]
    assert round(measured, 4) == CALIBRATION["threshold"]


def test_the_shipped_cards_quote_their_benchmarks():
    """Each shipped model's card metrics are the numbers its benchmark wrote, for the file that ships."""
    from edgevision import shipped

    face = shipped.card("face-embedder")["metrics"]
    rows = _load("face_embedding.json")["rows"]
    assert math.isclose(face["lfw_devtest_rank1"], rows["student_evz"]["lfw_devtest_rank1"])
    assert math.isclose(face["orl_rank1"], rows["student_evz"]["orl_rank1"])
    seg, bench = shipped.card("person-segmenter")["metrics"], _load("person_segmenter.json")["shipped"]
    assert math.isclose(seg["test_miou"], bench["evz_test_miou"]) and seg["evz_bytes"] == bench["evz_bytes"]
    assert seg["evz_bytes"] == shipped.path("person-segmenter").stat().st_size
    presence = shipped.card("person-presence")
    run = _load(presence["benchmark"]["results"])["distilled"]["seeds"][0]
    assert run["seed"] == presence["benchmark"]["seed"]
    assert all(math.isclose(presence["metrics"][k], run[k]) for k in ("f1_at_0.5", "roc_auc", "top1"))


def test_deploy_page_engine_tables_are_the_ones_engines_json_renders():
    """docs/deploy.md quotes benchmarks/engines_table.py's rendering of engines.json verbatim."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("engines_table", RESULTS.parent / "engines_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = _load("engines.json")
    doc = (RESULTS.parents[1] / "docs" / "deploy.md").read_text()
    assert mod.latency_table(d) in doc and mod.size_table(d) in doc and mod.accuracy_table(d) in doc
    assert set(d["engines_tested"]) >= {"onnxruntime", "openvino", "litert", "executorch", "ncnn"}
    sq = d["models"]["squeezenet1_1@224"]
    assert d["target"]["value"] == sq["best_int8_speedup_vs_ort_fp32_1t"] == max(
        v for k, v in sq["vs_ort_fp32"]["1"].items() if "int8" in k)
    pr = d["models"]["presence_resnet18_0.5@96"]  # the trained model: accuracy of every file on its test split
    assert pr["trained"] and pr["test_samples"] > 500 and set(pr["accuracy"]) == set(pr["latency_ms"]["1"])
    drops = pr["accuracy_drop_points"]
    assert all(abs(drops[k] - 100 * (pr["accuracy"]["torch fp32"] - v)) < 0.011 for k, v in pr["accuracy"].items())
    t = d["trained_target"]
    assert t["fastest_int8"] == pr["best_int8"] and t["met"] == (drops[t["fastest_int8"]] <= 1.0)
