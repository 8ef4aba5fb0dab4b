"""nnmath.optim: ten steps of each optimizer against torch.optim, Adam's first step, and the schedule."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from nnmath.optim import SGD, Adam, AdamW, RMSprop, warmup_cosine_lr

SHAPES = [(3, 4), (4,), (2, 1, 3)]


def run_both(ours, torch_optimizer_class, hyperparameters, seed, steps=10):
    """The same parameters and gradients through our optimizer and PyTorch's; compare after every step."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=shape) for shape in SHAPES]
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    theirs = torch_optimizer_class(tensors, **hyperparameters)
    for step in range(steps):
        grads = [rng.normal(size=shape) * 10.0 ** rng.integers(-3, 2) for shape in SHAPES]
        ours.step(params, grads)
        for tensor, g in zip(tensors, grads, strict=True):
            tensor.grad = torch.from_numpy(g)
        theirs.step()
        for i, (p, tensor) in enumerate(zip(params, tensors, strict=True)):
            torch.testing.assert_close(torch.from_numpy(p), tensor.detach(), rtol=1e-12, atol=1e-14,
                                       msg=lambda detail, i=i, step=step: f"params[{i}] after step {step + 1}: "
                                                                          f"{detail}")


rates = st.sampled_from([1e-3, 0.01, 0.1])
decays = st.sampled_from([0.0, 0.01, 0.5])


@given(lr=rates, momentum=st.sampled_from([0.0, 0.5, 0.9]), weight_decay=decays, seed=st.integers(0, 2**16))
def test_sgd_matches_torch(lr, momentum, weight_decay, seed):
    hyperparameters = dict(lr=lr, momentum=momentum, weight_decay=weight_decay)
    run_both(SGD(**hyperparameters), torch.optim.SGD, hyperparameters, seed)


@pytest.mark.parametrize("ours, theirs", [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)])
@given(lr=rates, betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)]),
       eps=st.sampled_from([1e-8, 1e-3]), weight_decay=decays, seed=st.integers(0, 2**16))
def test_adam_and_adamw_match_torch(ours, theirs, lr, betas, eps, weight_decay, seed):
    hyperparameters = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    run_both(ours(**hyperparameters), theirs, hyperparameters, seed)


@given(lr=rates, alpha=st.sampled_from([0.99, 0.9, 0.0]), eps=st.sampled_from([1e-8, 1e-3]),
       seed=st.integers(0, 2**16))
def test_rmsprop_matches_torch(lr, alpha, eps, seed):
    hyperparameters = dict(lr=lr, alpha=alpha, eps=eps)
    run_both(RMSprop(**hyperparameters), torch.optim.RMSprop, hyperparameters, seed)


def test_the_defaults_are_pytorchs():
    for ours, theirs in [(Adam(), torch.optim.Adam), (AdamW(), torch.optim.AdamW), (RMSprop(), torch.optim.RMSprop)]:
        defaults = theirs([torch.zeros(1, requires_grad=True)]).defaults
        assert ours.lr == defaults["lr"] and ours.eps == defaults["eps"]
        assert getattr(ours, "weight_decay", 0.0) == defaults["weight_decay"]
        if "betas" in defaults:
            assert (ours.beta1, ours.beta2) == defaults["betas"]
        else:
            assert ours.alpha == defaults["alpha"]
    assert AdamW().weight_decay == 1e-2 and Adam().weight_decay == 0.0


@given(lr=rates, seed=st.integers(0, 2**16), scale=st.sampled_from([1e-6, 1e-2, 1.0, 1e3]))
def test_adams_first_step_moves_every_coordinate_by_lr(lr, seed, scale):
    """Bias correction: m_hat = g and v_hat = g^2 at step 1, so each step is lr |g| / (|g| + eps), about lr."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(5, 3))
    g = rng.normal(size=(5, 3)) * scale
    before = theta.copy()
    Adam(lr=lr).step([theta], [g])
    size = np.abs(theta - before)
    np.testing.assert_allclose(size, lr * np.abs(g) / (np.abs(g) + 1e-8), rtol=1e-9)
    assert np.all(size <= lr * (1 + 1e-12)) and np.all(size >= lr * (1 - 1e-8 / np.abs(g)) * (1 - 1e-12))
    assert np.all(np.sign(theta - before) == -np.sign(g))


@given(lr=rates, weight_decay=st.sampled_from([0.01, 0.1]), seed=st.integers(0, 2**16))
def test_with_weight_decay_adam_and_adamw_differ_on_step_1_by_lr_times_lambda_theta(lr, weight_decay, seed):
    """Step 1 moves each coordinate by about lr sign(g + lambda theta) in Adam, by lr sign(g) + lr lambda theta in
    AdamW: where the signs agree, AdamW ends lr lambda theta closer to 0 (up to eps / |g| relative)."""
    rng = np.random.default_rng(seed)
    theta, g = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    adam, adamw = theta.copy(), theta.copy()
    Adam(lr=lr, weight_decay=weight_decay).step([adam], [g])
    AdamW(lr=lr, weight_decay=weight_decay).step([adamw], [g])
    same_sign = np.sign(g) == np.sign(g + weight_decay * theta)
    eps_effect = 2 * lr * 1e-8 / np.minimum(np.abs(g), np.abs(g + weight_decay * theta))
    assert np.all(np.abs((adam - adamw) - lr * weight_decay * theta)[same_sign] <= (eps_effect + 1e-15)[same_sign])
    # where the decay flips the sign of Adam's gradient, the two move in opposite directions
    assert np.all(np.abs(adam - adamw)[~same_sign] > lr)
    no_decay_adam, no_decay_adamw = theta.copy(), theta.copy()
    Adam(lr=lr).step([no_decay_adam], [g])
    AdamW(lr=lr, weight_decay=0.0).step([no_decay_adamw], [g])
    np.testing.assert_array_equal(no_decay_adam, no_decay_adamw)


def test_sgd_momentum_is_pytorchs_convention():
    """v = g at step 1, then v = mu v + g: no (1 - mu) in front of g."""
    theta = np.array([1.0])
    sgd = SGD(lr=0.1, momentum=0.9)
    sgd.step([theta], [np.array([2.0])])
    assert theta[0] == pytest.approx(1.0 - 0.1 * 2.0)
    sgd.step([theta], [np.array([3.0])])
    assert theta[0] == pytest.approx(0.8 - 0.1 * (0.9 * 2.0 + 3.0))


def test_rmsprops_first_step_is_lr_over_sqrt_1_minus_alpha():
    theta, g = np.zeros(3), np.array([0.5, -2.0, 30.0])
    RMSprop(lr=0.01, alpha=0.99).step([theta], [g])
    np.testing.assert_allclose(theta, -0.01 * np.sign(g) / np.sqrt(0.01), rtol=1e-6)


# The schedule.


@given(warmup=st.integers(0, 8), decay=st.integers(1, 30), peak=st.sampled_from([1e-3, 0.1, 3.0]),
       floor=st.sampled_from([0.0, 0.1]))
def test_warmup_cosine_is_torchs_linear_then_cosine_schedule(warmup, decay, peak, floor):
    total, min_lr = warmup + decay, floor * peak
    tensor = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([tensor], lr=peak)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=decay, eta_min=min_lr)
    if warmup:
        linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
        scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warmup])
    else:
        scheduler = cosine
    for step in range(total + 1):
        assert warmup_cosine_lr(step, peak, warmup, total, min_lr) == pytest.approx(
            optimizer.param_groups[0]["lr"], rel=1e-12, abs=1e-15), step
        optimizer.step()
        scheduler.step()


def test_warmup_cosine_landmarks():
    assert warmup_cosine_lr(0, 1.0, 4, 10) == pytest.approx(0.2)  # never 0
    assert warmup_cosine_lr(3, 1.0, 4, 10) == pytest.approx(0.8)
    assert warmup_cosine_lr(4, 1.0, 4, 10) == 1.0
    assert warmup_cosine_lr(7, 1.0, 4, 10) == pytest.approx(0.5)  # half way down the cosine
    assert warmup_cosine_lr(10, 1.0, 4, 10, min_lr=0.1) == pytest.approx(0.1)
    assert warmup_cosine_lr(11, 1.0, 4, 10, min_lr=0.1) == 0.1 == warmup_cosine_lr(1000, 1.0, 4, 10, min_lr=0.1)
    assert warmup_cosine_lr(0, 1.0, 0, 10) == 1.0
    rates = [warmup_cosine_lr(t, 1.0, 4, 10) for t in range(12)]
    assert all(a < b for a, b in zip(rates[:4], rates[1:5], strict=True))
    assert all(a > b for a, b in zip(rates[4:10], rates[5:11], strict=True))
    assert math.isclose(sum(rates[4:11]), 3.5, rel_tol=1e-12)  # a cosine's mean over a half period is its middle


# Bad input.


def test_optimizers_reject_bad_hyperparameters():
    with pytest.raises(ValueError, match=r"lr must lie in \[0.0, inf\], got -0.1"):
        SGD(lr=-0.1)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0.0, inf\], got -1"):
        SGD(lr=0.1, momentum=-1)
    with pytest.raises(ValueError, match=r"betas\[1\] must lie in \[0.0, 1.0\), got 1.0"):
        Adam(betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"weight_decay must lie in \[0.0, inf\], got -0.01"):
        AdamW(weight_decay=-0.01)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0.0, 1.0\), got 1.5"):
        RMSprop(alpha=1.5)
    with pytest.raises(ValueError, match=r"eps must lie in \[0.0, inf\], got nan"):
        Adam(eps=float("nan"))


def test_step_checks_parameters_and_gradients():
    sgd = SGD(lr=0.1)
    with pytest.raises(ValueError, match="expected one gradient per parameter, got 2 parameters and 1 gradients"):
        sgd.step([np.zeros(2), np.zeros(3)], [np.zeros(2)])
    with pytest.raises(ValueError, match=r"grads\[1\] must have the shape of params\[1\], \(3,\), got \(2,\)"):
        sgd.step([np.zeros(2), np.zeros(3)], [np.zeros(2), np.zeros(2)])
    with pytest.raises(TypeError, match=r"params\[0\] must be a float ndarray \(it is updated in place\), got list"):
        sgd.step([[1.0, 2.0]], [np.zeros(2)])
    with pytest.raises(TypeError, match=r"params\[0\] must be a float ndarray .*, got ndarray of dtype int64"):
        sgd.step([np.zeros(2, dtype=np.int64)], [np.zeros(2)])
    adam = Adam()
    adam.step([np.zeros(2), np.zeros(3)], [np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match=r"the same parameters in the same order as at the first step, of shapes "
                                         r"\[\(2,\), \(3,\)\], got \[\(3,\), \(2,\)\]"):
        adam.step([np.zeros(3), np.zeros(2)], [np.ones(3), np.ones(2)])


def test_the_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="step must be at least 0, got -1"):
        warmup_cosine_lr(-1, 1.0, 2, 10)
    with pytest.raises(ValueError, match="0 <= warmup_steps < total_steps, got 10 and 10"):
        warmup_cosine_lr(0, 1.0, 10, 10)
    with pytest.raises(ValueError, match="0 <= min_lr <= peak_lr, got min_lr=2.0 and peak_lr=1.0"):
        warmup_cosine_lr(0, 1.0, 2, 10, min_lr=2.0)
