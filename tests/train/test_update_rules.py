"""TF 1.x update rules: one or two steps on tiny variables, expected numbers derived from TF's kernels."""

import math

import pytest
import torch

from torch_estimator.train.update_rules import Adagrad, Adam, AdamW, Ftrl, GradientDescent, Momentum, RMSProp


def _param(*values: float) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor(values))


def _step(rule: torch.optim.Optimizer, param: torch.Tensor, *grad: float) -> None:
    param.grad = torch.tensor(grad)
    rule.step()


def _close(actual: torch.Tensor, *expected: float, tol: float = 1e-6) -> None:
    torch.testing.assert_close(actual.detach(), torch.tensor(expected), atol=tol, rtol=0)


def test_gradient_descent_step_and_skips_params_without_grad():
    """var -= lr * g: [1, 2] - 0.1 * [0.5, -1] = [0.95, 2.1]; a param with grad None is untouched."""
    w, untouched = _param(1.0, 2.0), _param(3.0)
    rule = GradientDescent([w, untouched], lr=0.1)
    _step(rule, w, 0.5, -1.0)
    _close(w, 0.95, 2.1)
    _close(untouched, 3.0)
    assert untouched not in rule.state


def test_momentum_two_steps():
    """lr=0.1, momentum=0.9, g=1 twice: accum 1 then 0.9*1+1 = 1.9; w = 1 - 0.1 - 0.19 = 0.71."""
    w = _param(1.0)
    rule = Momentum([w], lr=0.1, momentum=0.9)
    _step(rule, w, 1.0)
    _close(w, 0.9)
    _step(rule, w, 1.0)
    _close(w, 0.71)
    _close(rule.state[w]["momentum"], 1.9)


def test_momentum_nesterov_two_steps():
    """Nesterov: var -= lr*g + lr*momentum*accum (updated accum).

    Step 1: accum=1, w = 1 - (0.1 + 0.09*1) = 0.81. Step 2: accum=1.9, w = 0.81 - (0.1 + 0.09*1.9) = 0.539.
    """
    w = _param(1.0)
    rule = Momentum([w], lr=0.1, momentum=0.9, use_nesterov=True)
    _step(rule, w, 1.0)
    _close(w, 0.81)
    _step(rule, w, 1.0)
    _close(w, 0.539)


def test_adam_two_steps_follow_tf_formula():
    """lr=0.1, w=[1, 2], g=[0.1, -0.2] twice.

    Step 1: beta powers 0.9, 0.999: lr_t = 0.1*sqrt(0.001)/0.1 = 0.0316228; m = 0.1*g = [0.01, -0.02];
    v = 0.001*g^2 = [1e-5, 4e-5]; step = lr_t*m/(sqrt(v)+1e-8) = [0.1, -0.1] (1e-8 is negligible).
    Step 2: beta powers 0.81, 0.998001: m = 0.19*g, v = 0.001999*g^2,
    lr_t = 0.1*sqrt(0.001999)/0.19; step = lr_t*0.19*g/(sqrt(0.001999)*|g|) = 0.1*sign(g).
    So w = [0.8, 2.2]; afterwards beta1_power = 0.729, beta2_power = 0.997003. As TF's kernel, the
    scalars are float32: 1 - 0.999 is 0.00099998713, so v is TF 2.15's [1.9989744e-05, 7.9958976e-05].
    """
    w = _param(1.0, 2.0)
    rule = Adam([w], lr=0.1)
    assert float(rule.param_groups[0]["beta1_power"]) == pytest.approx(0.9)
    _step(rule, w, 0.1, -0.2)
    _close(w, 0.9, 2.1, tol=1e-5)
    _step(rule, w, 0.1, -0.2)
    _close(w, 0.8, 2.2, tol=1e-5)
    _close(rule.state[w]["m"], 0.019, -0.038)
    _close(rule.state[w]["v"], 1.9989744e-05, 7.9958976e-05, tol=1e-12)
    assert float(rule.param_groups[0]["beta1_power"]) == pytest.approx(0.729)
    assert float(rule.param_groups[0]["beta2_power"]) == pytest.approx(0.997003)


def test_adam_uses_tf_epsilon_hat_not_torch_epsilon():
    """epsilon=1, lr=0.1, g=0.1: TF adds epsilon to sqrt(v), not to sqrt(v_hat).

    TF: lr_t = 0.0316228, m = 0.01, sqrt(v) = 0.00316228 -> step = 0.0316228*0.01/1.00316228 = 0.00031523.
    torch.optim.Adam would step 0.1*0.1/(0.1+1) = 0.00909.
    """
    w = _param(1.0)
    _step(Adam([w], lr=0.1, epsilon=1.0), w, 0.1)
    _close(w, 1.0 - 0.00031523, tol=1e-7)


def test_adamw_decays_without_learning_rate_then_adam():
    """weight_decay=0.1 (not times lr): [1, 2] -> [0.9, 1.8]; then Adam's first step, -0.1*sign(g),
    gives [0.8, 1.9]."""
    w = _param(1.0, 2.0)
    _step(AdamW([w], weight_decay=0.1, lr=0.1), w, 0.1, -0.2)
    _close(w, 0.8, 1.9, tol=1e-5)


def test_adagrad_starts_from_initial_accumulator():
    """accum 0.1 + 0.09 = 0.19; w = 1 - 0.1*0.3/sqrt(0.19) = 0.9311753.

    Step 2: accum 0.28; w = 0.9311753 - 0.03/sqrt(0.28) = 0.8744806.
    """
    w = _param(1.0)
    rule = Adagrad([w], lr=0.1)
    _step(rule, w, 0.3)
    _close(rule.state[w]["accumulator"], 0.19)
    _close(w, 0.9311753)
    _step(rule, w, 0.3)
    _close(w, 0.8744806)


def test_adagrad_custom_initial_accumulator():
    """initial 1.0: accum 1.09; w = 1 - 0.1*0.3/sqrt(1.09) = 0.9712654."""
    w = _param(1.0)
    rule = Adagrad([w], lr=0.1, initial_accumulator_value=1.0)
    _step(rule, w, 0.3)
    _close(rule.state[w]["accumulator"], 1.09)
    _close(w, 0.9712654)


def test_rmsprop_mean_square_starts_at_ones():
    """TF1 initialises ms to 1 (Keras to 0). g=0.5, decay=0.9, lr=0.1:
    ms = 0.9*1 + 0.1*0.25 = 0.925; mom = 0.1*0.5/sqrt(0.925) = 0.0519875; w = 0.9480125.
    (With ms starting at 0 the step would be 0.1*0.5/sqrt(0.025) = 0.316.)
    """
    w = _param(1.0)
    rule = RMSProp([w], lr=0.1)
    _step(rule, w, 0.5)
    _close(rule.state[w]["rms"], 0.925)
    _close(w, 0.9480125)


def test_rmsprop_momentum_second_step():
    """momentum=0.5, g=0.5 twice. Step 1 as above (mom 0.0519875).
    Step 2: ms = 0.9*0.925 + 0.025 = 0.8575; mom = 0.5*0.0519875 + 0.05/sqrt(0.8575) = 0.0799886;
    w = 0.9480125 - 0.0799886 = 0.8680239.
    """
    w = _param(1.0)
    rule = RMSProp([w], lr=0.1, momentum=0.5)
    _step(rule, w, 0.5)
    _step(rule, w, 0.5)
    _close(rule.state[w]["momentum"], 0.0799886)
    _close(w, 0.8680239)


def test_rmsprop_centered():
    """centered: ms = 0.925, mg = 0.1*0.5 = 0.05; denom = 0.925 - 0.0025 + 1e-10 = 0.9225;
    mom = 0.05/sqrt(0.9225) = 0.0520579; w = 0.9479421. The extra slot mg is named RMSProp_1.
    """
    w = _param(1.0)
    rule = RMSProp([w], lr=0.1, centered=True)
    _step(rule, w, 0.5)
    _close(rule.state[w]["mg"], 0.05)
    _close(w, 0.9479421)
    assert dict(rule.slot_names) == {"rms": "", "mg": "_1", "momentum": "_2"}
    assert dict(RMSProp([_param(1.0)]).slot_names) == {"rms": "", "momentum": "_1"}


def test_ftrl_l1_zeroes_a_weight():
    """lr=0.1, l1=1, w=[0, 0], g=[0.5, -2], accum starts at 0.1.

    accum_new = [0.35, 4.1]; linear = g - (...)*w = [0.5, -2] since w=0.
    |0.5| <= l1 -> 0. |-2| > l1: (sign(-2)*1 - (-2)) / (sqrt(4.1)/0.1) = 1/20.248457 = 0.0493865.
    """
    w = _param(0.0, 0.0)
    rule = Ftrl([w], lr=0.1, l1=1.0)
    _step(rule, w, 0.5, -2.0)
    _close(w, 0.0, 0.0493865)
    _close(rule.state[w]["accum"], 0.35, 4.1)
    _close(rule.state[w]["linear"], 0.5, -2.0)


def test_ftrl_nonzero_variable():
    """lr=0.1, w=1, g=0.5: accum 0.1 -> 0.35; sigma = (sqrt(0.35) - sqrt(0.1))/0.1 = 2.753802;
    linear = 0.5 - 2.753802*1 = -2.253802; quadratic = sqrt(0.35)/0.1 = 5.916080;
    w = 2.253802/5.916080 = 0.380963.
    """
    w = _param(1.0)
    rule = Ftrl([w], lr=0.1)
    _step(rule, w, 0.5)
    _close(rule.state[w]["linear"], -2.253802)
    _close(w, 0.380963)


def test_ftrl_fixed_rate_with_l2_beta_and_shrinkage():
    """learning_rate_power=0 (accum^0 = 1, so the linear correction is 0), lr=0.5, l2=0.25, beta=0.5,
    l2_shrinkage=0.5, w=1, g=1: g_shr = 1 + 2*0.5*1 = 2; linear = 2;
    quadratic = (beta + 1)/lr + 2*l2 = 3 + 0.5 = 3.5; w = -2/3.5 = -0.5714286.
    The accumulator adds the raw g^2: 0.1 + 1 = 1.1.
    """
    w = _param(1.0)
    rule = Ftrl([w], lr=0.5, learning_rate_power=0.0, l2=0.25, beta=0.5, l2_shrinkage=0.5)
    _step(rule, w, 1.0)
    _close(w, -0.5714286)
    _close(rule.state[w]["accum"], 1.1)


def test_ftrl_general_power():
    """learning_rate_power=-1: accum^1. lr=1, w=0, g=1: accum 0.1 -> 1.1; linear = 1;
    quadratic = 1.1/1 = 1.1; w = -1/1.1 = -0.9090909.
    """
    w = _param(0.0)
    _step(Ftrl([w], lr=1.0, learning_rate_power=-1.0), w, 1.0)
    _close(w, -0.9090909)


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda p: GradientDescent(p, lr=-0.1), "learning_rate -0.1 must be >= 0"),
        (lambda p: Momentum(p, lr=0.1, momentum=-1.0), "momentum -1.0 must be >= 0"),
        (lambda p: Adam(p, beta1=1.0), "beta1 1.0 must be in [0, 1)"),
        (lambda p: Adam(p, epsilon=-1.0), "epsilon -1.0 must be >= 0"),
        (lambda p: AdamW(p, weight_decay=-0.1), "weight_decay -0.1 must be >= 0"),
        (
            lambda p: Adagrad(p, initial_accumulator_value=0.0),
            "initial_accumulator_value 0.0 must be positive",
        ),
        (lambda p: RMSProp(p, decay=1.5), "decay 1.5 must be in [0, 1]"),
        (lambda p: Ftrl(p, lr=0.0), "learning_rate 0.0 must be > 0"),
        (
            lambda p: Ftrl(p, initial_accumulator_value=-0.1),
            "initial_accumulator_value -0.1 needs to be positive or zero",
        ),
        (lambda p: Ftrl(p, learning_rate_power=0.5), "learning_rate_power 0.5 needs to be negative or zero"),
        (lambda p: Ftrl(p, l1=-1.0), "l1_regularization_strength -1.0 needs to be positive or zero"),
        (lambda p: Ftrl(p, l2=-1.0), "l2_regularization_strength -1.0 needs to be positive or zero"),
        (lambda p: Ftrl(p, l2_shrinkage=-1.0), "l2_shrinkage_regularization_strength -1.0 needs to be"),
    ],
)
def test_invalid_hyperparameters_raise(make, phrase):
    with pytest.raises(ValueError, match="Received") as info:
        make([_param(1.0)])
    assert phrase in str(info.value)


def test_ftrl_accepts_zero_initial_accumulator():
    """TF allows 0 for Ftrl (not for Adagrad): sqrt(0) = 0, so w=0, g=1, lr=1 gives linear 1,
    quadratic sqrt(1)/1 = 1 and w = -1."""
    w = _param(0.0)
    _step(Ftrl([w], lr=1.0, initial_accumulator_value=0.0), w, 1.0)
    _close(w, -1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: Momentum(p, lr=0.1, momentum=0.9),
        lambda p: Adam(p, lr=0.1),
        lambda p: AdamW(p, weight_decay=0.01, lr=0.1),
        lambda p: Adagrad(p, lr=0.1),
        lambda p: RMSProp(p, lr=0.1, momentum=0.5, centered=True),
        lambda p: Ftrl(p, lr=0.1, l1=0.01),
    ],
)
def test_prepopulated_state_resumes_identically(make):
    """Installing a rule's state (slots and non-slot powers) in a fresh rule before its first step,
    as a checkpoint restore does, gives exactly the step the original rule takes."""
    w = _param(1.0, -2.0)
    original = make([w])
    _step(original, w, 0.3, -0.1)
    copy = _param(*w.tolist())
    resumed = make([copy])
    resumed.state[copy] = {key: value.clone() for key, value in original.state[w].items()}
    for key in original.non_slot_names:
        resumed.param_groups[0][key] = original.param_groups[0][key].clone()
    _step(original, w, 0.2, 0.4)
    _step(resumed, copy, 0.2, 0.4)
    torch.testing.assert_close(copy.detach(), w.detach(), rtol=0, atol=0)


def test_adam_partially_prepopulated_slot_is_completed():
    """A restore may bring m but not v: v is created as zeros on the first step."""
    w = _param(1.0)
    rule = Adam([w], lr=0.1)
    rule.state[w] = {"m": torch.tensor([0.5])}
    _step(rule, w, 1.0)
    # m = 0.9*0.5 + 0.1*1 = 0.55; v = 0.001*1 (from zeros).
    _close(rule.state[w]["m"], 0.55)
    _close(rule.state[w]["v"], 0.001)


def test_slot_with_wrong_shape_raises():
    w = _param(1.0, 2.0)
    rule = Adagrad([w], lr=0.1)
    rule.state[w] = {"accumulator": torch.ones(3)}
    with pytest.raises(ValueError, match=r"slot 'accumulator' has shape \(3,\)"):
        _step(rule, w, 1.0, 1.0)


def test_slot_of_other_dtype_is_converted():
    w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    rule = Adagrad([w], lr=0.1)
    rule.state[w] = {"accumulator": torch.tensor([0.1], dtype=torch.float32)}
    w.grad = torch.tensor([0.3], dtype=torch.float64)
    rule.step()
    assert rule.state[w]["accumulator"].dtype == torch.float64
    assert w.item() == pytest.approx(1 - 0.03 / math.sqrt(0.19))


def test_sparse_gradient_is_densified_for_a_dense_only_rule():
    """Momentum(momentum=0) is SGD: [1, 2] - 0.1 * [1, 0] = [0.9, 2]; the momentum slot is dense."""
    w = _param(1.0, 2.0)
    rule = Momentum([w], lr=0.1)
    w.grad = torch.tensor([1.0, 0.0]).to_sparse()
    rule.step()
    _close(w, 0.9, 2.0)
    assert not rule.state[w]["momentum"].is_sparse


def test_closure_loss_is_returned():
    w = _param(1.0)
    rule = GradientDescent([w], lr=0.1)

    def closure():
        loss = (w**2).sum()
        loss.backward()
        return loss

    assert rule.step(closure).item() == pytest.approx(1.0)
    _close(w, 0.8)  # grad 2*w = 2


def test_no_gradients_leaves_adam_powers_alone():
    w = _param(1.0)
    rule = Adam([w], lr=0.1)
    rule.step()
    assert float(rule.param_groups[0]["beta1_power"]) == pytest.approx(0.9)
