"""BG/NBD + Gamma-Gamma benchmark (lifetimes 0.11.3, a benchmark-only dependency).

Time unit: weeks computed as days / 7 from purchase-day summaries, exactly like Fader, Hardie
& Lee (2005) and lifetimes' bundled ``cdnow_customers_summary.csv`` (T = 38.86 weeks for a
customer born on 1997-01-01 with calibration end 1997-09-30). lifetimes'
``summary_data_from_transaction_data(freq="W")`` is *not* used: it floors to calendar weeks and
merges purchases in the same week, which gives different counts than the paper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .spend import GammaGammaModel

PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.4}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _lifetimes():
    try:
        import lifetimes  # noqa: F401
        from lifetimes import BetaGeoFitter
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The BG/NBD benchmark needs the optional package lifetimes==0.11.3 "
            "(pip install 'custsat[bench]'); the survival CLV model itself does not."
        ) from exc
    return BetaGeoFitter


class BGNBDGammaGamma:
    """BG/NBD (lifetimes) for purchase counts × Gamma-Gamma (own implementation) for spend."""

    def __init__(self, penalizer: float = 0.0, n_draws: int = 400, seed: int = 42, interval: float = 0.8):
        self.penalizer = penalizer
        self.n_draws = n_draws
        self.seed = seed
        self.interval = interval

    def fit(self, summary: pd.DataFrame) -> BGNBDGammaGamma:
        """``summary``: customer summary (frequency, recency_days, T_days, monetary_value)."""
        BetaGeoFitter = _lifetimes()
        weeks = summary[["recency_days", "T_days"]] / 7.0
        self.bgf_ = BetaGeoFitter(penalizer_coef=self.penalizer)
        self.bgf_.fit(summary["frequency"], weeks["recency_days"], weeks["T_days"])
        self.gg_ = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
        return self

    @property
    def params_(self) -> dict[str, float]:
        p = self.bgf_.params_
        return {
            "r": float(p["r"]),
            "alpha": float(p["alpha"]),
            "a": float(p["a"]),
            "b": float(p["b"]),
            "log_likelihood": float(self.bgf_._negative_log_likelihood_ * -len(self.bgf_.data)),
            "gg_p": self.gg_.p_,
            "gg_q": self.gg_.q_,
            "gg_gamma": self.gg_.gamma_,
        }

    def predict(self, summary: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
        """Expected purchases and spend over ``horizon_days`` after the calibration end."""
        t = horizon_days / 7.0
        x = summary["frequency"].to_numpy(dtype=float)
        tx = summary["recency_days"].to_numpy(dtype=float) / 7.0
        T = summary["T_days"].to_numpy(dtype=float) / 7.0
        purchases = self.bgf_.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)
        spend_pp = self.gg_.expected_spend_per_purchase(x, summary["monetary_value"])
        out = pd.DataFrame(
            {
                "p_alive": self.bgf_.conditional_probability_alive(x, tx, T),
                "expected_purchases_horizon": np.asarray(purchases, dtype=float),
                "expected_spend_horizon": np.asarray(purchases, dtype=float) * spend_pp,
            },
            index=summary.index,
        )
        low, high, tail = self._intervals(summary, x, tx, T, t)
        out["spend_low"], out["spend_high"] = low, high
        out.attrs["interval_tail_spend"] = tail
        return out

    def _intervals(self, summary, x, tx, T, t):
        """Simulated realised spend: P(alive), λ, p from their posteriors, then the BG process."""
        from .estimator import model_implied_tail

        rng = np.random.default_rng(self.seed)
        r, alpha, a, b = (float(self.bgf_.params_[k]) for k in ("r", "alpha", "a", "b"))
        p_alive = np.asarray(self.bgf_.conditional_probability_alive(x, tx, T), dtype=float)
        nu_shape, nu_rate = self.gg_.posterior_nu(x, summary["monetary_value"])
        draws = np.empty((len(x), self.n_draws))
        for s in range(self.n_draws):
            alive = rng.random(len(x)) < p_alive
            lam = rng.gamma(r + x, 1.0 / (alpha + T))
            p = rng.beta(a, b + x)
            count = rng.poisson(lam * t)
            drop_after = rng.geometric(np.clip(p, 1e-12, 1.0))
            n = np.where(alive, np.minimum(count, drop_after), 0)
            nu = rng.gamma(nu_shape, 1.0 / nu_rate)
            draws[:, s] = np.where(n > 0, rng.gamma(np.maximum(self.gg_.p_ * n, 1e-12), 1.0 / nu), 0.0)
        tail = model_implied_tail(draws, self.interval)
        return np.quantile(draws, tail, axis=1), np.quantile(draws, 1 - tail, axis=1), tail
