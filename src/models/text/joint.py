"""One encoder pass for sentiment and topics.

The sentiment model is fine-tuned with the word embeddings and the lower ``freeze_layers``
layers frozen, so those layers are *the base model's own*. Sentiment needs the fine-tuned
upper layers; topics need the base model's upper layers (their descriptions and seed examples
were embedded with it). :class:`JointEncoder` runs the shared lower part once and the two upper
stacks on its output, instead of two full passes: with 6 of 12 layers shared that is 18 layer
evaluations per text instead of 24, and one tokenisation at one ``max_len``.

Which layers are shared is *measured*, not assumed: the leading layers whose weights are equal
in both models (:func:`shared_prefix`). With nothing shared the joint pass is still correct,
just not cheaper.
"""

from __future__ import annotations

from collections.abc import Sequence

from custsat.models.text.encoder import encode_texts, forward_arrays, mean_pool, run_batched


def _same(a, b) -> bool:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def shared_prefix(tuned, base) -> int:
    """Number of leading encoder layers identical in two BERT models (-1: embeddings differ)."""
    if not _same(tuned.embeddings, base.embeddings):
        return -1
    k = 0
    for lt, lb in zip(tuned.encoder.layer, base.encoder.layer, strict=True):
        if not _same(lt, lb):
            break
        k += 1
    return k


def build_joint_module(sentiment_net, base_bert):
    """torch module ``(input_ids, attention_mask) -> (logits, sentiment_embedding, base_embedding)``.

    Embeddings are L2-normalised attention-masked means (as :class:`TextEncoder` and the
    sentiment model produce them).
    """
    import torch
    from transformers.masking_utils import create_bidirectional_mask

    tuned = sentiment_net.encoder
    k = shared_prefix(tuned, base_bert)

    class _Joint(torch.nn.Module):
        # the three stacks are named submodules so that exported node names tell them apart
        # ("/trunk.0/...", "/tuned_upper.0/...", "/base_upper.0/..."; int8 targets the trunk)
        def __init__(self):
            super().__init__()
            self.shared_layers = max(k, 0)
            self.config = tuned.config
            self.embeddings = tuned.embeddings
            self.base_embeddings = base_bert.embeddings if k < 0 else None
            self.trunk = torch.nn.ModuleList(tuned.encoder.layer[: max(k, 0)])
            self.tuned_upper = torch.nn.ModuleList(tuned.encoder.layer[max(k, 0):])
            self.base_upper = torch.nn.ModuleList(base_bert.encoder.layer[max(k, 0):])
            self.head = sentiment_net.head

        @staticmethod
        def _run(layers, h, mask4):
            for layer in layers:
                h = layer(h, mask4)
            return h

        def forward(self, input_ids, attention_mask):
            norm = torch.nn.functional.normalize
            emb = self.embeddings(input_ids=input_ids)
            mask4 = create_bidirectional_mask(config=self.config, inputs_embeds=emb, attention_mask=attention_mask)
            h = self._run(self.trunk, emb, mask4)
            h_t = self._run(self.tuned_upper, h, mask4)
            base_in = h if self.base_embeddings is None else self.base_embeddings(input_ids=input_ids)
            h_b = self._run(self.base_upper, base_in, mask4)
            pooled_t = mean_pool(h_t, attention_mask)
            return (self.head(pooled_t), norm(pooled_t, dim=-1), norm(mean_pool(h_b, attention_mask), dim=-1))

    return _Joint().eval()


class JointEncoder:
    """Sentiment logits and base-model embeddings from one pass (torch or ONNX Runtime).

    Parameters
    ----------
    sentiment : a loaded :class:`~custsat.models.text.sentiment.SentimentClassifier`.
    base_bert : the base encoder the topic model embeds with (same tokenizer).
    onnx : False, ``"fp32"`` or ``True``/``"int8"`` (exported next to the sentiment model on first use).
    """

    def __init__(self, sentiment, base_bert, onnx: bool | str = False, batch_size: int = 64):
        self.sentiment = sentiment
        self.base_bert = base_bert
        self.onnx = onnx
        self.batch_size = batch_size

    def load(self) -> JointEncoder:
        self.module_ = build_joint_module(self.sentiment.net_, self.base_bert)
        self.shared_layers_ = self.module_.shared_layers
        self.session_ = None
        if self.onnx:
            from custsat.models.text.onnx_export import flavour, load_joint_session

            self.session_ = load_joint_session(self.sentiment, self.module_, quantized=flavour(self.onnx))
        return self

    def forward_texts(self, texts: Sequence[str], max_len: int | None = None, progress: bool = False):
        """(logits n×3, base embeddings n×H, truncation flags) for ``texts``."""
        if not hasattr(self, "module_"):
            self.load()
        tok = self.sentiment.tokenizer_
        enc = encode_texts(tok, list(texts), max_len or self.sentiment.config.max_len)
        forward = forward_arrays(self.module_, self.session_)
        dim = self.base_bert.config.hidden_size
        logits, _, emb = run_batched(enc.ids, tok.pad_token_id, self.batch_size, forward, [3, dim, dim], progress,
                                     "classifying")
        return logits, emb, enc.truncated


def joint_encoder_for(sentiment, base_bert, onnx: bool | str = False, batch_size: int = 64) -> JointEncoder:
    """The loaded :class:`JointEncoder` of this sentiment model and base encoder, built once and kept
    on the sentiment model (finding the shared layers compares every weight: ~1 s a call)."""
    cache = sentiment.__dict__.setdefault("joint_encoders_", {})
    key = (id(base_bert), onnx)
    if key not in cache:
        cache[key] = JointEncoder(sentiment, base_bert, onnx=onnx, batch_size=batch_size).load()
    cache[key].batch_size = batch_size
    return cache[key]
