"""Diagonal-covariance Gaussian mixture (first version; the full engine replaces it)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .errors import ConfigError, NotFittedError


class GaussianMixture:
    def __init__(self, n_components=1, *, covariance_type="diag", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", random_state=None, dtype=np.float64):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.dtype = dtype

    def fit(self, X, sample_weight=None):
        X = np.asarray(X, dtype=self.dtype)
        n, d = X.shape
        k = self.n_components
        if n < k:
            raise ConfigError(f"n_samples={n} should be >= n_components={k}")
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
        rng = np.random.default_rng(self.random_state)
        idx = rng.choice(n, size=k, replace=False)
        self.means_ = X[idx].copy()
        var = X.var(axis=0) + self.reg_covar
        self.covariances_ = np.tile(var, (k, 1))
        self.weights_ = np.full(k, 1.0 / k)
        prev = -np.inf
        self.converged_ = False
        for it in range(self.max_iter):
            lp = self._weighted_log_prob(X)
            norm = logsumexp(lp, axis=1)
            resp = np.exp(lp - norm[:, None]) * w[:, None]
            lb = float(np.sum(norm * w) / w.sum())
            nk = resp.sum(0) + 10 * np.finfo(float).eps
            self.weights_ = nk / nk.sum()
            self.means_ = (resp.T @ X) / nk[:, None]
            ex2 = (resp.T @ (X * X)) / nk[:, None]
            self.covariances_ = np.maximum(ex2 - self.means_ ** 2, 0) + self.reg_covar
            self.n_iter_ = it + 1
            if abs(lb - prev) < self.tol:
                self.converged_ = True
                break
            prev = lb
        self.lower_bound_ = lb
        self.precisions_ = 1.0 / self.covariances_
        return self

    def _weighted_log_prob(self, X):
        if not hasattr(self, "means_"):
            raise NotFittedError("call fit first")
        prec = 1.0 / self.covariances_
        d = X.shape[1]
        lp = (-0.5 * (np.sum(self.means_ ** 2 * prec, 1) - 2 * X @ (self.means_ * prec).T
                      + (X * X) @ prec.T)
              - 0.5 * d * np.log(2 * np.pi) - 0.5 * np.log(self.covariances_).sum(1))
        return lp + np.log(self.weights_)

    def score_samples(self, X):
        return logsumexp(self._weighted_log_prob(np.asarray(X, dtype=self.dtype)), axis=1)

    def predict_proba(self, X):
        lp = self._weighted_log_prob(np.asarray(X, dtype=self.dtype))
        return np.exp(lp - logsumexp(lp, axis=1)[:, None])
