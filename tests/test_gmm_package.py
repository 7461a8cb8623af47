"""The layout of the diarize.gmm package: public names, module sizes, saved parameters."""

import inspect
from pathlib import Path

import numpy as np
import pytest

import diarize.gmm
from diarize.gmm import BayesianGaussianMixture, GaussianMixture

GMM_DIR = Path(diarize.gmm.__file__).parent

# Short fits: convergence does not matter to what is saved.
pytestmark = pytest.mark.filterwarnings("ignore::diarize.gmm.ConvergenceWarning")


def test_public_names_import_from_the_package():
    for name in ("GaussianMixture", "BayesianGaussianMixture", "BaseMixture",
                 "ConvergenceWarning", "MixtureStats", "load_arrays", "map_adapted_means"):
        assert name in diarize.gmm.__all__
        assert getattr(diarize.gmm, name).__name__ == name


def test_no_module_over_800_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in GMM_DIR.glob("*.py")}
    assert len(sizes) >= 6, sizes
    assert max(sizes.values()) <= 800, sizes


def _init_params(cls):
    return [n for n in inspect.signature(cls.__init__).parameters if n != "self"]


def _data(n=300, d=3, seed=0):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(n // 2, d) - 2.0, rng.randn(n - n // 2, d) + 2.0])


def test_every_gaussian_constructor_parameter_is_saved():
    X = _data()
    k, d = 2, X.shape[1]
    model = GaussianMixture(
        k, weights_init=np.full(k, 0.5), means_init=np.array([[-2.0] * d, [2.0] * d]),
        precisions_init=np.ones((k, d)), random_state=3, max_iter=5, tol=0.0,
    ).fit(X)
    state = model.to_dict()
    saved = {key[len("param:"):] for key in state if key.startswith("param:")}
    assert saved == set(_init_params(GaussianMixture))
    back = GaussianMixture.from_dict(state)
    np.testing.assert_array_equal(back.means_init, model.means_init)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_every_bayesian_constructor_parameter_is_saved():
    X = _data()
    d = X.shape[1]
    model = BayesianGaussianMixture(
        3, weight_concentration_prior=0.1, mean_precision_prior=0.5,
        mean_prior=np.zeros(d), degrees_of_freedom_prior=float(d) + 1.0,
        covariance_prior=np.ones(d), random_state=1, max_iter=5, tol=0.0,
    ).fit(X)
    state = model.to_dict()
    saved = {key[len("param:"):] for key in state if key.startswith("param:")}
    assert saved == set(_init_params(BayesianGaussianMixture))
    back = BayesianGaussianMixture.from_dict(state)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


class _WithKnob(GaussianMixture):
    """A subclass adding one constructor argument and passing the rest on."""

    def __init__(self, n_components=1, *, knob=0.5, **kwargs):
        super().__init__(n_components, **kwargs)
        self.knob = knob


def test_a_new_constructor_argument_is_round_tripped():
    model = _WithKnob(2, knob=7.25, max_iter=3, random_state=0).fit(_data())
    assert model.get_params()["knob"] == 7.25
    assert model.get_params()["max_iter"] == 3
    state = model.to_dict()
    assert state["param:knob"] == 7.25
    back = _WithKnob.from_dict(state)
    assert back.knob == 7.25 and back.max_iter == 3
    assert model.set_params(knob=1.0).knob == 1.0


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_get_params_follows_the_signature(cls):
    assert list(cls().get_params()) == _init_params(cls)


@pytest.mark.slow
def test_every_function_is_annotated():
    import ast

    missing = []
    for path in sorted(GMM_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                args = [*a.posonlyargs, *a.args, *a.kwonlyargs,
                        *[x for x in (a.vararg, a.kwarg) if x is not None]]
                if node.returns is None or any(
                        x.annotation is None and x.arg not in ("self", "cls") for x in args):
                    missing.append(f"{path.name}:{node.lineno} {node.name}")
    assert missing == []
