"""Gaussian mixture models: maximum-likelihood EM and variational Bayes.

The engine follows scikit-learn's ``sklearn.mixture`` API and numerics (the same
parameter names and meanings, the same update formulas, the same lower bound), but
is organised around one blockwise pass over the data:

* The data are never copied.  Each pass walks through X in row blocks of a few
  thousand frames; for each block it centres the rows, computes the weighted
  log-probabilities of all components, normalises them in place into
  responsibilities (log-space, max-shifted, so nothing overflows) and immediately
  accumulates the sufficient statistics the M-step needs.  Memory for ``fit`` is
  therefore a fixed-size block plus O(K * D) accumulators (plus O(N * K) only where
  an API asks for the full responsibility matrix, e.g. ``predict_proba`` or the
  'random' initialisation), never N x K x D temporaries.
* For the 'diag' and 'spherical' types the block log-density and the statistics are
  each one matrix product: ``[Xc, Xc**2] @ W`` and ``resp.T @ [Xc, Xc**2]``.
* Rows are centred on the mean of the current component means before any
  arithmetic, which keeps the E[x^2] - E[x]^2 variance formula (the one
  scikit-learn uses) accurate, and makes the float32 mode usable.
* Statistics are accumulated block by block in float64 and all parameters are kept
  in float64 (they are tiny); ``dtype`` only selects the precision of the per-frame
  arithmetic, which is where all the time goes.

Components that lose their mass
-------------------------------
With maximum likelihood EM a component can end up with (numerically) no
responsibility.  scikit-learn then divides by ~1e-15 and can produce garbage or a
singular covariance.  Here a component whose total responsibility falls below
``10 * eps * total weight`` (or whose full covariance is not positive definite)
keeps its previous mean and covariance; its weight is re-estimated normally, so it
becomes tiny but stays finite.  Keeping old parameters for one component is a
partial M-step, so the likelihood still never decreases.  Variances are floored at
0 before ``reg_covar`` is added, so rounding can never make them negative.

Layout
------
``_kernels``  log-densities, Cholesky factors and float64-accumulated products;
``_kmeans``   k-means / k-means++ initialisation;
``_base``     :class:`BaseMixture`: validation, initialisation, the one EM loop,
              prediction and persistence, with the model in abstract hooks;
``_gaussian`` :class:`GaussianMixture` and MAP adaptation;
``_bayesian`` :class:`BayesianGaussianMixture`;
``_io``       reading saved models.
"""

from __future__ import annotations

from diarize.errors import ConvergenceWarning

from ._base import BaseMixture
from ._bayesian import BayesianGaussianMixture
from ._gaussian import GaussianMixture, MixtureStats, map_adapted_means
from ._io import load_arrays

__all__ = [
    "BaseMixture",
    "BayesianGaussianMixture",
    "ConvergenceWarning",
    "GaussianMixture",
    "MixtureStats",
    "load_arrays",
    "map_adapted_means",
]
