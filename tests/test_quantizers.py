import math

import pytest
import torch

from quantnet.quantizers import ActQuantizer, WeightQuantizer, act_range, weight_range


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
def test_weight_codes_are_integers_times_per_channel_step_in_signed_symmetric_range(bits):
    torch.manual_seed(bits)
    w = torch.randn(6, 3, 3, 3) * 2
    q = WeightQuantizer(w.shape, [bits])
    q.train()
    out = q(w)  # first call initialises the step
    step = q.step(bits).detach()
    assert step.shape == (6, 1, 1, 1)
    codes = out.detach() / step
    assert torch.allclose(codes, codes.round(), atol=1e-4)
    qp = 2 ** (bits - 1) - 1
    assert codes.round().min() >= -qp and codes.round().max() <= qp
    # symmetric: never the extra negative code of two's complement
    assert weight_range(bits) == (-qp, qp)
    # the int codes helper agrees with the fake-quant output
    assert torch.equal(q.codes(w), codes.round().to(torch.int64))


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_activation_codes_unsigned_and_saturate(bits):
    q = ActQuantizer([bits])
    q.eval()
    with torch.no_grad():
        q.step(bits).fill_(0.25)
    x = torch.linspace(-3, 3 + 0.25 * 2**bits, 401)
    codes = q(x) / 0.25
    assert torch.allclose(codes, codes.round())
    assert codes.min() == 0 and codes.max() == 2**bits - 1
    assert act_range(bits) == (0, 2**bits - 1)


def test_step_init_is_two_mean_abs_over_sqrt_qp():
    w = torch.tensor([[1.0, -3.0], [0.5, 0.5]])
    q = WeightQuantizer(w.shape, [3])  # Qp = 3
    q.train()
    q(w)
    expected = torch.tensor([2 * 2.0 / math.sqrt(3), 2 * 0.5 / math.sqrt(3)]).view(2, 1)
    assert torch.allclose(q.step(3).detach(), expected, atol=1e-6)
    a = ActQuantizer([2])
    a.train()
    a(torch.tensor([[0.5, 1.5, 2.5, 3.5]]))
    assert math.isclose(a.step(2).item(), 2 * 2.0 / math.sqrt(3), rel_tol=1e-6)


def test_lsq_gradients_match_hand_worked_case():
    # bits 2 -> Qp 3, step 0.5, one sample of 4 features: v/s = 0.4, 1.8, 2.6, 4.0 (last clamps to 3).
    # d sum(v_hat)/ds = [(0-0.4) + (2-1.8) + (3-2.6) + 3] * g, g = 1/sqrt(4*3)  -> 3.2/sqrt(12)
    # d sum(v_hat)/dv = 1 inside the range, 0 where clamped.
    q = ActQuantizer([2])
    q.eval()  # no re-initialisation of the step
    with torch.no_grad():
        q.step(2).fill_(0.5)
    v = torch.tensor([[0.2, 0.9, 1.3, 2.0]], requires_grad=True)
    out = q(v)
    assert torch.allclose(out.detach(), torch.tensor([[0.0, 1.0, 1.5, 1.5]]))
    out.sum().backward()
    assert math.isclose(q.step(2).grad.item(), 3.2 / math.sqrt(12), rel_tol=1e-5)
    assert torch.equal(v.grad, torch.tensor([[1.0, 1.0, 1.0, 0.0]]))


def test_each_bit_width_has_its_own_step():
    q = ActQuantizer([2, 3, 4])
    q.train()
    x = torch.rand(2, 16) * 4
    for b in (2, 3, 4):
        q.set_bits(b)
        q(x)
    steps = [q.step(b).item() for b in (2, 3, 4)]
    assert len(set(steps)) == 3
    assert bool(q.initialised.all())


def test_bad_bits_rejected_with_message():
    with pytest.raises(ValueError, match=r"candidate bit-widths"):
        ActQuantizer([1, 2])
    q = ActQuantizer([2, 4])
    with pytest.raises(ValueError, match=r"bit-width 3 not among"):
        q.set_bits(3)
