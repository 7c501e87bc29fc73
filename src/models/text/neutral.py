"""A learned neutral class on top of a polarity model, from real 3-class labels.

The fine-tuned encoder learns polarity from the large binary review sets. Neutral is then
learned from the 3-class rows only (a hand-labelled sample of real reviews, and feedback with
ratings of 3 where given), so that the binary rows — many of them mixed reviews forced into
positive or negative — do not teach the model that nothing is neutral.

The head keeps the polarity logits ``z_neg``, ``z_pos`` of the encoder (scaled by one learned
factor ``s > 0``, so ``p_positive >= p_negative`` is unchanged: polarity cannot drop) and adds
a neutral logit that is linear in the mean-pooled encoder output ``h``::

    logits = [s * z_neg,  w . h + b + bias,  s * z_pos]

``w, b, s`` minimise the 3-class cross-entropy plus ``||w||^2 / (2 C n)`` (L-BFGS, on
standardised ``h``). ``C`` and the decision offset ``bias`` are chosen by stratified K-fold
cross-validation on the same 3-class rows (out-of-fold macro-F1; ties go to the smaller
offset), never on an evaluation sample. Because the neutral logit is linear in ``h``, the head
folds into the encoder's linear sentiment head (:func:`fold_into_head`): serving, ONNX export
and distillation see an ordinary 3-way head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
BIAS_GRID = tuple(np.round(np.arange(-2.0, 2.01, 0.1), 2))


@dataclass
class NeutralHead:
    """Fitted neutral logit ``w . h + b`` and polarity scale ``s`` (see the module doc)."""

    w: np.ndarray
    b: float
    scale: float
    bias: float
    C: float
    cv: dict

    def logits(self, pooled: np.ndarray, polarity_logits: np.ndarray) -> np.ndarray:
        z = np.asarray(polarity_logits, np.float64)
        return np.stack([self.scale * z[:, 0], pooled @ self.w + self.b + self.bias, self.scale * z[:, 2]], axis=1)


def _fit_row(h: np.ndarray, z: np.ndarray, y: np.ndarray, C: float) -> tuple[np.ndarray, float, float]:
    """(w, b, s) on standardised features ``h`` (float64), polarity logits ``z`` (n, 3), labels 0/1/2."""
    import torch

    ht, zt, yt = (torch.from_numpy(np.asarray(a)) for a in (h, z, y))
    w = torch.zeros(h.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    log_s = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b, log_s], lr=1.0, max_iter=200, tolerance_grad=1e-9, line_search_fn="strong_wolfe")
    penalty = 1.0 / (2.0 * C * len(y))

    def closure():
        opt.zero_grad()
        s = log_s.exp()
        logits = torch.stack([s * zt[:, 0], ht @ w + b, s * zt[:, 2]], 1)
        loss = torch.nn.functional.cross_entropy(logits, yt) + penalty * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), float(b.detach()), float(log_s.detach().exp())


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, labels=[0, 1, 2], average="macro", zero_division=0))


def fit_neutral_head(pooled: np.ndarray, polarity_logits: np.ndarray, y: np.ndarray, *, folds: int = 5,
                     seed: int = 0, c_grid=C_GRID, bias_grid=BIAS_GRID) -> NeutralHead:
    """Fit the neutral head on 3-class rows (``y`` in 0 negative / 1 neutral / 2 positive)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, np.int64)
    counts = np.bincount(y, minlength=3)
    if counts[1] < folds or (counts[[0, 2]] == 0).any():
        raise ValueError(f"the neutral head needs at least {folds} neutral rows and both polarities; "
                         f"got negative/neutral/positive = {counts.tolist()}")
    h = np.asarray(pooled, np.float64)
    mu, sd = h.mean(0), h.std(0) + 1e-6
    hs = (h - mu) / sd
    z = np.asarray(polarity_logits, np.float64)
    split = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(hs, y))
    best = None
    cv = {}
    for C in c_grid:
        oof = np.zeros((len(y), 3))
        for tr, te in split:
            w, b, s = _fit_row(hs[tr], z[tr], y[tr], C)
            oof[te] = np.stack([s * z[te, 0], hs[te] @ w + b, s * z[te, 2]], 1)
        scores = [(_macro_f1(y, (oof + [0.0, bias, 0.0]).argmax(1)), -abs(bias), bias) for bias in bias_grid]
        f1, _, bias = max(scores)
        cv[str(C)] = {"macro_f1": round(f1, 4), "bias": bias}
        if best is None or (f1, -C) > (best[0], -best[1]):
            best = (f1, C, bias)
    f1, C, bias = best
    w, b, s = _fit_row(hs, z, y, C)
    # fold the standardisation into the raw-feature weights
    w_raw = w / sd
    return NeutralHead(w=w_raw, b=float(b - mu @ w_raw), scale=s, bias=float(bias), C=float(C),
                       cv={"by_C": cv, "macro_f1": f1, "folds": folds, "n": int(len(y)),
                           "counts": counts.tolist()})


def fold_into_head(head, neutral: NeutralHead) -> None:
    """Write ``neutral`` into a torch ``Linear(H, 3)`` sentiment head in place (rows 0 and 2 scaled)."""
    import torch

    with torch.no_grad():
        for row in (0, 2):
            head.weight[row].mul_(neutral.scale)
            head.bias[row].mul_(neutral.scale)
        head.weight[1].copy_(torch.from_numpy(neutral.w).to(head.weight.dtype))
        head.bias[1].fill_(neutral.b + neutral.bias)
