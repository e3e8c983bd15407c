"""A data set must fit the checkpoint's model: inputs of its shape, classes it can predict."""
import pytest

from hwsim.errors import UserError
from quantnet.checkpoint import save_checkpoint
from quantnet.data import DataError
from quantnet.evaluate import evaluate_checkpoint
from quantnet.models import build_model


def test_data_of_another_input_shape_refused(tmp_path):
    q = tmp_path / "m.pt"
    save_checkpoint(build_model("digits_resnet", width=2, input_size=28), q)   # a 28x28 network
    with pytest.raises(DataError, match=r"'digits' has inputs \(1, 8, 8\).*takes \(1, 28, 28\)"):
        evaluate_checkpoint(q, "w4a4", data="digits", samples=8)


def test_data_that_fits_evaluates(tmp_path):
    p = tmp_path / "c.pt"
    save_checkpoint(build_model("digits_resnet", width=2), p)
    assert evaluate_checkpoint(p, "w4a4", data="digits", samples=8)["results"][0]["samples"] == 8


@pytest.mark.parametrize("n", [0, -3])
def test_samples_must_be_positive(tmp_path, n):
    p = tmp_path / "c.pt"
    save_checkpoint(build_model("digits_resnet", width=2), p)
    with pytest.raises(UserError, match="--samples must be an integer >= 1"):
        evaluate_checkpoint(p, "w4a4", data="digits", samples=n)


@pytest.mark.parametrize("n", [0, -3])
def test_verify_and_ablation_refuse_samples_below_one_too(tmp_path, n):
    from quantnet.verify import verify_checkpoint
    from studies.ablation_table import ablation_table
    p = tmp_path / "c.pt"
    save_checkpoint(build_model("digits_resnet", width=2), p)
    with pytest.raises(UserError, match="--samples must be an integer >= 1"):
        verify_checkpoint(p, configs=0, samples=n, progress=False)
    with pytest.raises(UserError, match="--samples must be an integer >= 1"):
        ablation_table([str(p)], "w4a4", samples=n, progress=False)


def test_verify_refuses_data_that_does_not_fit(tmp_path):
    from quantnet.verify import verify_checkpoint
    q = tmp_path / "m.pt"
    save_checkpoint(build_model("digits_resnet", width=2, input_size=28), q)
    with pytest.raises(DataError, match=r"takes \(1, 28, 28\)"):
        verify_checkpoint(q, configs=0, data="digits", samples=8, progress=False)
