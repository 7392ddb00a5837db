"""benchmarks/perf.py's arithmetic and its README update (the measuring itself is `make perf`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):  # benchmarks/ is not a package: load the scripts as modules
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


perf = _load("perf")
minimal_loop = _load("minimal_loop")


def test_the_gemm_floor_counts_every_gemm_of_a_dense_step():
    shapes = minimal_loop.gemm_shapes(32)
    # 3 layers: forward + weight gradient each, input gradient for all but the first
    assert len(shapes) == 3 * 2 + 2
    assert (32, 784, 128) in shapes and (784, 32, 128) in shapes and (32, 128, 784) not in shapes
    flops = sum(2 * m * k * n for m, k, n in shapes)
    per_sample_forward = 784 * 128 + 128 * 128 + 128 * 10
    assert flops == 2 * 32 * (3 * per_sample_forward - 784 * 128)


def test_a_ratio_interval_brackets_its_estimate_and_is_bounded_from_four_rounds():
    r, lo, hi = perf.ratio_interval([1.0, 1.1, 0.9, 1.05], [2.0, 2.1, 1.9, 2.05])
    assert lo <= r <= hi and hi < 1.0 and r == pytest.approx(0.5, rel=0.05)
    _, lo3, hi3 = perf.ratio_interval([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert lo3 == 0.0 and hi3 == float("inf")  # 3 vs 3 cannot bound a 95% interval


def test_the_table_holds_each_runner_against_its_yardstick():
    samples = {arm: [2.0, 2.0, 2.0, 2.0] for arm in perf.arms_for([128])}
    samples[perf.Arm("pytorch", "runner", "none", 128)] = [2.2, 2.2, 2.2, 2.2]
    samples[perf.Arm("pytorch", "floor", "gemm-floor", 128)] = [0.5, 0.4, 0.6, 0.5]
    lines = perf.table(samples, [128])
    (row,) = [line for line in lines if line.startswith('| pytorch | 128 | runner, compile = "none"')]
    assert "1.10x" in row and "vs hand eager" in row and "18%" in row  # floor 0.4 / 2.2
    (jit,) = [line for line in lines if line.startswith('| pytorch | 128 | runner, compile = "jit" |')]
    assert "vs hand compiled" in jit


def test_the_readme_update_replaces_only_the_marked_section(tmp_path):
    readme = tmp_path / "README.md"
    begin, end = perf.markers("mlp")
    cnn_begin, cnn_end = perf.markers("cnn")
    readme.write_text(f"# head\n\n{begin}\nold table\n{end}\n{cnn_begin}\nold cnn\n{cnn_end}\ntail\n")
    perf.update_readme(readme, "new table")
    perf.update_readme(readme, "new cnn", "cnn")
    assert (
        readme.read_text() == f"# head\n\n{begin}\nnew table\n{end}\n{cnn_begin}\nnew cnn\n{cnn_end}\ntail\n"
    )
    bare = tmp_path / "bare.md"
    bare.write_text("no markers\n")
    with pytest.raises(SystemExit, match="no <!-- perf:begin -->"):
        perf.update_readme(bare, "x")
    assert bare.read_text() == "no markers\n"


def test_the_cnn_model_holds_each_runner_against_its_hand_loop_only():
    arms = perf.arms_for([64], "cnn")
    assert {(a.kind, a.mode) for a in arms} == {("runner", "none"), ("hand", "eager")}
    lines = perf.table({arm: [2.0, 2.0, 2.2, 2.0] for arm in arms}, [64])
    assert not any("torch.mm" in line for line in lines)
    assert all("—" in line for line in lines[2:])  # no floor share without the floor
    layers = perf.paper_spec("pytorch", "mnist-5k", 3, 2, 64, "none", "cnn").workload.layers
    assert [layer.kind for layer in layers][:2] == ["conv2d", "max_pool2d"]


def test_every_registered_runner_is_held_in_every_mode_and_tier():
    from runners import FRAMEWORKS as registered

    assert perf.FRAMEWORKS == tuple(fw for fw in registered if fw != "fake")
    assert set(minimal_loop.LOOPS) == set(perf.FRAMEWORKS)  # a hand loop for each of them
    arms = perf.arms_for([32, 128])
    for fw in perf.FRAMEWORKS:
        for b in (32, 128):
            mine = {
                (a.kind, a.mode, a.tier)
                for a in arms
                if a.framework == fw and a.batch == b and a.kind != "floor"
            }
            assert mine == set(perf.ROWS)
    assert ("runner", "jit", "tuned") in perf.ROWS and ("runner", "none", "tuned") not in perf.ROWS
    assert [a for a in arms if a.kind == "floor"] == [
        perf.Arm("pytorch", "floor", "gemm-floor", b) for b in (32, 128)
    ]
    assert len(set(arms)) == len(arms) and len({a.label for a in arms}) == len(arms)  # labels stay unique
    tuned = perf.Arm("jax", "runner", "jit", 32, "tuned")
    assert tuned.label == "jax runner jit:tuned b32" and tuned.yardstick == perf.Arm(
        "jax", "hand", "compiled", 32
    )
    assert perf.Arm("jax", "runner", "none", 32).yardstick == perf.Arm("jax", "hand", "eager", 32)


def test_a_subset_of_frameworks_gives_only_their_arms_and_the_floor():
    arms = perf.arms_for([128], "mlp", ("keras-torch",))
    assert {a.framework for a in arms} == {"keras-torch", "pytorch"}
    assert [a for a in arms if a.framework == "pytorch"] == [perf.Arm("pytorch", "floor", "gemm-floor", 128)]
    cnn = perf.arms_for([64], "cnn", ("jax", "keras-jax"))
    assert {(a.framework, a.kind, a.mode) for a in cnn} == {
        (fw, kind, mode)
        for fw in ("jax", "keras-jax")
        for kind, mode in (("runner", "none"), ("hand", "eager"))
    }


def test_the_tuned_row_shows_its_tier_and_is_held_against_the_compiled_hand_loop():
    arms = perf.arms_for([128], "mlp", ("jax", "keras-jax"))
    samples = {arm: [2.0, 2.0, 2.0, 2.0] for arm in arms}
    samples[perf.Arm("keras-jax", "runner", "jit", 128, "tuned")] = [1.0, 1.0, 1.0, 1.0]
    lines = perf.table(samples, [128])
    (tuned,) = [line for line in lines if line.startswith("| keras-jax | 128 |") and "tuned" in line]
    assert (
        'runner, compile = "jit", tier = "tuned"' in tuned
        and "0.50x" in tuned
        and "vs hand compiled" in tuned
    )
    (matched,) = [line for line in lines if line.startswith('| keras-jax | 128 | runner, compile = "jit" |')]
    assert "1.00x" in matched and "vs hand compiled" in matched
    # Table order: frameworks as asked, each with its rows in ROWS order, then the floor.
    names = [line.split(" | ")[0].lstrip("| ") for line in lines[2:]]
    assert names == ["jax"] * 5 + ["keras-jax"] * 5 + ["(torch.mm)"]


def test_every_round_runs_each_arm_once_in_a_rotated_order():
    arms = perf.arms_for([32], "mlp", ("jax", "pytorch"))
    orders = [perf.rotated(arms, r) for r in range(4)]
    assert all(sorted(o, key=arms.index) == arms for o in orders)
    assert len({o[0] for o in orders}) == 4  # a different arm first each round


def test_the_spec_carries_the_tier_and_the_training_prefix():
    spec = perf.paper_spec("keras-jax", "fashion-mnist", 3, 2, 128, "jit", "mlp", "tuned", 12000)
    assert spec.tier == "tuned" and spec.compile == "jit" and spec.workload.max_train_samples == 12000
    plain = perf.paper_spec("pytorch", "fashion-mnist", 3, 2, 128, "none")
    assert plain.tier == "matched" and plain.workload.max_train_samples is None
    assert perf.train_rows(60000, 12000) == 12000 and perf.train_rows(60000, None) == 60000
    assert perf.train_rows(5000, 12000) == 5000


def test_more_rounds_go_on_from_a_sittings_samples(tmp_path):
    arms = perf.arms_for([32], "mlp", ("jax",))
    stored = {arm.label: [0.1, 0.2, 0.3] for arm in arms}
    stored[arms[0].label].append(0.4)  # a round cut short: only whole rounds are kept
    (tmp_path / "perf.json").write_text(__import__("json").dumps({"samples": stored}))
    samples, done = perf.earlier_samples(tmp_path / "perf.json", arms)
    assert done == 3 and all(values == [0.1, 0.2, 0.3] for values in samples.values())
    assert perf.rotated(arms, done)[0] == arms[3 % len(arms)]  # the rotation goes on where it stopped
    (tmp_path / "other.json").write_text('{"samples": {"pytorch runner none b32": [1.0]}}')
    with pytest.raises(SystemExit, match="other arms"):
        perf.earlier_samples(tmp_path / "other.json", arms)
    with pytest.raises(SystemExit, match="cannot read"):
        perf.earlier_samples(tmp_path / "missing.json", arms)
