"""Integer-only ONNX export: onnx.checker passes and onnxruntime's value of every IR tensor equals the
simulator's, code for code, at uniform and random configs of random IRs and of a small exported network."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from hwsim.executor import execute  # noqa: E402
from hwsim.onnx_export import build_onnx  # noqa: E402
from irgen import GenParams, random_bits, random_input, random_ir, uniform_bits  # noqa: E402


def run_onnx(model, ir, x):
    """Every graph output of `model` on input codes x, by name."""
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {ir.input_name: x.astype(np.uint8)})))


def assert_codes_equal(ir, cfg, x):
    model = build_onnx(ir, cfg, all_tensors=True)
    onnx.checker.check_model(model, full_check=True)
    got = run_onnx(model, ir, x)
    want = execute(ir, cfg, x, trace=True).codes
    assert set(got) == set(want) - {ir.input_name}
    for t, v in got.items():
        assert v.dtype == np.int32
        bad = int(np.sum(v != want[t]))
        assert bad == 0, f"tensor {t}: {bad} of {v.size} values differ"


GENS = [GenParams(11, channels=2, size=6, width=6, maxpool=True),
        GenParams(12, channels=3, size=5, width=7, identity=False, block_stride=2, groups="some"),
        GenParams(13, channels=2, size=4, width=4, groups="depthwise", stem_stride=2),
        GenParams(14, channels=1, size=7, width=5, identity=False, weights="max"),
        GenParams(15, channels=2, size=5, width=5, weights="min", maxpool=True)]


@pytest.mark.parametrize("p", GENS, ids=lambda p: f"seed{p.seed}")
def test_onnxruntime_equals_the_simulator_on_random_irs(p):
    ir = random_ir(p)
    rng = np.random.default_rng(p.seed)
    x = np.concatenate([random_input(ir, rng, 6), random_input(ir, rng, 1, "max"), random_input(ir, rng, 1, "zero")])
    configs = [uniform_bits(ir, b) for b in (2, 4, 8)] + [random_bits(ir, rng) for _ in range(5)]
    for cfg in configs:
        assert_codes_equal(ir, cfg, x)


# ---- a calibrated network exported from torch, on its test set ----------------------------------------
from bitmixer.cli import main  # noqa: E402
from hwsim.bits import BitConfig  # noqa: E402
from quantnet.data import load_dataset  # noqa: E402
from quantnet.export import load_int_model  # noqa: E402
from test_verify import ckpt  # noqa: E402,F401  (the small calibrated checkpoint fixture)


def test_onnxruntime_equals_the_simulator_on_an_exported_network(ckpt):  # noqa: F811
    ir = load_int_model(ckpt)
    x = load_dataset("synthetic").x_test[:64]
    rng = np.random.default_rng(5)
    configs = [BitConfig.uniform(ir.table, b) for b in ir.candidate_bits] + \
        [BitConfig.random(ir.table, rng) for _ in range(5)]
    for cfg in configs:
        assert_codes_equal(ir, cfg, x)


def test_export_cli_writes_onnx_of_one_config(ckpt, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "m.onnx"
    assert main(["export", str(ckpt), "--format", "onnx", "--config", "w3a3", "-o", str(out)]) == 0
    assert "ConvInteger" in capsys.readouterr().out
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    ir = load_int_model(ckpt)
    x = load_dataset("synthetic").x_test[:16]
    got = run_onnx(model, ir, x)[ir.output_name]
    assert np.array_equal(got, execute(ir, BitConfig.uniform(ir.table, 3), x).logits)


@pytest.mark.parametrize("argv,msg", [(["--format", "onnx"], "give --config"),
                                      (["--format", "onnx", "--config", "random:2"], "names 2 configs"),
                                      (["--config", "w4a4"], "holds every config")])
def test_export_cli_rejects_ambiguous_configs(ckpt, tmp_path, capsys, argv, msg):  # noqa: F811
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.onnx")] + argv) == 2
    assert msg in capsys.readouterr().err


DIGITS = __import__("pathlib").Path("/work/runs/meta/checkpoint.pt")


@pytest.mark.slow
@pytest.mark.skipif(not DIGITS.is_file(), reason=f"needs the trained digits network {DIGITS}")
def test_onnxruntime_equals_the_simulator_on_the_digits_test_set():
    ir = load_int_model(DIGITS)
    x = load_dataset(ir.source.get("data") or "digits").x_test
    rng = np.random.default_rng(0)
    for cfg in [BitConfig.uniform(ir.table, b) for b in ir.candidate_bits] + \
            [BitConfig.random(ir.table, rng) for _ in range(5)]:
        assert_codes_equal(ir, cfg, x)
