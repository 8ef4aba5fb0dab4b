r"""The exercises of the chapter :doc:`gradient-flow`: the book's solutions,
their checkers, and the slips each checker recognizes.

Each solution is the function the reader writes, under the name its stub
gives it; ``check_<name>(fn)`` checks the reader's version (see
:mod:`nnmath.exercises`).
"""

from functools import cache

import numpy as np

from nnmath.exercises import Case, Exercise, Slip, Unusable


def he_init(n_in, n_out, rng):
    r"""Initial weights for a layer followed by a ReLU, with He's variance.

    .. math:: w_{jk} \sim \mathcal{N}\Big(0, \frac{2}{n_{l-1}}\Big)

    Parameters
    ----------
    n_in, n_out : int
        :math:`n_{l-1}` and :math:`n_l`.
    rng : numpy.random.Generator
        The source of the random numbers.

    Returns
    -------
    ndarray, shape (n_l, n_{l-1})

    Book: :doc:`gradient-flow`
    """
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))


def xavier_init(n_in, n_out, rng):
    r"""Initial weights with Glorot and Bengio's (Xavier's) variance.

    .. math:: w_{jk} \sim \mathcal{N}\Big(0, \frac{2}{n_{l-1} + n_l}\Big)

    Parameters
    ----------
    n_in, n_out : int
        :math:`n_{l-1}` and :math:`n_l`.
    rng : numpy.random.Generator
        The source of the random numbers.

    Returns
    -------
    ndarray, shape (n_l, n_{l-1})

    Book: :doc:`gradient-flow`
    """
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=(n_out, n_in))


# Layers large enough that the measured variance is within 1 % of the
# true one (its standard error is sqrt(2 / n_in n_out) < 0.7 %).
INIT_LAYERS = ((400, 100), (100, 400), (256, 256))


def _init_cases(seed):
    return [Case((n_in, n_out, seed + i),
                 f"a layer of n_{{l-1}} = {n_in} inputs and n_l = {n_out} "
                 "neurons") for i, (n_in, n_out) in enumerate(INIT_LAYERS)]


def _he_variance(n_in, n_out):
    return 2.0 / n_in


def _xavier_variance(n_in, n_out):
    return 2.0 / (n_in + n_out)


def _init_runner(variance):
    """Runs the reader's initialisation and measures its weights: their
    variance over the target ``variance(n_in, n_out)``, and their mean in
    units of the target standard deviation (the right answer: 1 and 0)."""

    def run(fn, n_in, n_out, seed):
        W = fn(n_in, n_out, np.random.default_rng(seed))
        if not (isinstance(W, np.ndarray) and W.dtype == np.float64):
            return W
        if W.shape != (n_out, n_in):
            transposed = (" (the shape of its transpose)"
                          if W.shape == (n_in, n_out) else "")
            raise Unusable(
                f"Your W has shape {W.shape}{transposed}: the weights of "
                f"layer l have shape (n_l, n_{{l-1}}) = {(n_out, n_in)}.")
        target = variance(n_in, n_out)
        return np.array([W.var() / target, W.mean() / np.sqrt(target)])

    return run


def _init_explain(answer, expected, case):
    """The measured variance and mean, said to the reader."""
    ratio, mean = answer[0]
    return (f"✗ On {case.about}, the variance of your weights is "
            f"{ratio:.3g} times the one asked for, and their mean is "
            f"{abs(mean):.2g} standard deviations from 0: that is not one of "
            f"the slips I know. Compare with the variance in the docstring.")


def _variance_ratio(ratio):
    """A slip's prediction: the measured variance ``ratio(n_in, n_out)``
    times the target's, mean 0."""
    return lambda right, n_in, n_out, seed: np.array([ratio(n_in, n_out),
                                                      0.0])


def _he_fan_out(n_in, n_out, rng):
    return rng.normal(0, np.sqrt(2 / n_out), size=(n_out, n_in))


def _he_std_as_variance(n_in, n_out, rng):
    return rng.normal(0, 2 / n_in, size=(n_out, n_in))


def _he_uniform_bound(n_in, n_out, rng):
    s = np.sqrt(2 / n_in)
    return rng.uniform(-s, s, size=(n_out, n_in))


def _he_as_xavier(n_in, n_out, rng):
    return rng.normal(0, np.sqrt(2 / (n_in + n_out)), size=(n_out, n_in))


def _he_without_two(n_in, n_out, rng):
    return rng.normal(0, np.sqrt(1 / n_in), size=(n_out, n_in))


UNIFORM_MESSAGE = (
    "Your weights are uniform on [−s, s] with s the standard deviation "
    "asked for: a uniform law on [−s, s] has variance s²/3. Draw from a "
    "normal law with that standard deviation, or widen the interval to "
    "[−√3 s, √3 s].")

HE_INIT = Exercise(
    name="he_init",
    chapter="gradient-flow",
    solution=he_init,
    reference=lambda n_in, n_out, seed: np.array([1.0, 0.0]),
    cases=cache(lambda: _init_cases(205)),
    outputs=("variance and mean",),
    shapes=("(n_l, n_{l-1})",),
    about="layers of 400 → 100, 100 → 400 and 256 → 256 neurons; the "
          "error is the variance's, relative to 2/n_{l-1}",
    run=_init_runner(_he_variance),
    explain=_init_explain,
    tolerance=0.06,
    slips=(
        Slip("fan-out",
             "Your variance is 2/n_l, over the fan-out: He's variance "
             "keeps the forward pass's variance, Var(w) = 2/n_{l−1}, over "
             "the number of inputs of each neuron.",
             _variance_ratio(lambda n_in, n_out: n_in / n_out), _he_fan_out),
        Slip("std-as-variance",
             "You gave 2/n_{l−1} as the standard deviation: it is the "
             "variance, so the standard deviation is √(2/n_{l−1}).",
             _variance_ratio(lambda n_in, n_out: 2.0 / n_in),
             _he_std_as_variance),
        Slip("uniform-bound", UNIFORM_MESSAGE,
             _variance_ratio(lambda n_in, n_out: 1.0 / 3.0),
             _he_uniform_bound),
        Slip("xavier",
             "That is Xavier's variance, 2/(n_{l−1} + n_l), made for tanh "
             "near 0; a ReLU keeps only half of the variance, and He's "
             "Var(w) = 2/n_{l−1} makes up for it.",
             _variance_ratio(lambda n_in, n_out: n_in / (n_in + n_out)),
             _he_as_xavier),
        Slip("without-two",
             "Your variance is 1/n_{l−1}, LeCun's: a ReLU zeroes half of "
             "its inputs and keeps half of the variance, so He doubles "
             "it, Var(w) = 2/n_{l−1}.",
             _variance_ratio(lambda n_in, n_out: 0.5), _he_without_two),
    ),
)
check_he_init = HE_INIT.check


def _xavier_as_he(n_in, n_out, rng):
    return rng.normal(0, np.sqrt(2 / n_in), size=(n_out, n_in))


def _xavier_fan_in(n_in, n_out, rng):
    return rng.normal(0, np.sqrt(1 / n_in), size=(n_out, n_in))


def _xavier_std_as_variance(n_in, n_out, rng):
    return rng.normal(0, 2 / (n_in + n_out), size=(n_out, n_in))


def _xavier_uniform_bound(n_in, n_out, rng):
    s = np.sqrt(2 / (n_in + n_out))
    return rng.uniform(-s, s, size=(n_out, n_in))


def _xavier_sum(n_in, n_out, rng):
    return rng.normal(0, np.sqrt(1 / (n_in + n_out)), size=(n_out, n_in))


XAVIER_INIT = Exercise(
    name="xavier_init",
    chapter="gradient-flow",
    solution=xavier_init,
    reference=lambda n_in, n_out, seed: np.array([1.0, 0.0]),
    cases=cache(lambda: _init_cases(206)),
    outputs=("variance and mean",),
    shapes=("(n_l, n_{l-1})",),
    about="layers of 400 → 100, 100 → 400 and 256 → 256 neurons; the "
          "error is the variance's, relative to 2/(n_{l-1} + n_l)",
    run=_init_runner(_xavier_variance),
    explain=_init_explain,
    tolerance=0.06,
    slips=(
        Slip("he",
             "That is He's variance, 2/n_{l−1}, for ReLU layers: Xavier's "
             "is the compromise between the forward and the backward "
             "pass, Var(w) = 2/(n_{l−1} + n_l).",
             _variance_ratio(lambda n_in, n_out: (n_in + n_out) / n_in),
             _xavier_as_he),
        Slip("fan-in",
             "Your variance is 1/n_{l−1}, which keeps only the forward "
             "pass's variance: Xavier's averages fan-in and fan-out, "
             "Var(w) = 2/(n_{l−1} + n_l).",
             _variance_ratio(lambda n_in, n_out: (n_in + n_out) / 2 / n_in),
             _xavier_fan_in),
        Slip("std-as-variance",
             "You gave 2/(n_{l−1} + n_l) as the standard deviation: it is "
             "the variance, so the standard deviation is "
             "√(2/(n_{l−1} + n_l)).",
             _variance_ratio(lambda n_in, n_out: 2.0 / (n_in + n_out)),
             _xavier_std_as_variance),
        Slip("uniform-bound", UNIFORM_MESSAGE,
             _variance_ratio(lambda n_in, n_out: 1.0 / 3.0),
             _xavier_uniform_bound),
        Slip("sum",
             "Your variance is 1/(n_{l−1} + n_l): Xavier's is one over the "
             "average of fan-in and fan-out, 2/(n_{l−1} + n_l).",
             _variance_ratio(lambda n_in, n_out: 0.5), _xavier_sum),
    ),
)
check_xavier_init = XAVIER_INIT.check


EXERCISES = (HE_INIT, XAVIER_INIT)
