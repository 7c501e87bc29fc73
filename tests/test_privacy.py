"""PII masking and language detection (custsat.privacy)."""

from __future__ import annotations

import pytest

from custsat.privacy import detect_language, luhn_valid, mask_pii


@pytest.mark.parametrize(
    "text, expected",
    [
        ("我的手机13812345678，请回电", "我的手机<PHONE>，请回电"),
        ("手机 138-1234-5678 或 138 1234 5678", "手机 <PHONE> 或 <PHONE>"),
        ("call +86 138 1234 5678 now", "call <PHONE> now"),
        ("0086-13912345678", "<PHONE>"),
        ("tel: 010-12345678", "tel: <PHONE>"),
        ("客服 400-800-1234", "客服 <PHONE>"),
        ("(555) 123-4567 or 555-123-4567", "<PHONE> or <PHONE>"),
        ("+44 20 7946 0958", "<PHONE>"),
        ("全角１３８１２３４５６７８", "全角<PHONE>"),
        ("email a.b-c@x.com.cn pls", "email <EMAIL> pls"),
        ("身份证11010519491231002X号", "身份证<ID>号"),
        ("id 110105194912310021", "id <ID>"),
        ("card 6222 0212 3456 7890 123", "card <CARD>"),
        ("卡号6222021234567890123", "卡号<CARD>"),
        ("4111-1111-1111-1111", "<CARD>"),
    ],
)
def test_mask_pii_masks(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    ["订单2023-01-15发货，价格199元", "Order #12345 on 2024-05-01", "3 stars, 12 oz for $5.99", "房号1208", ""],
)
def test_mask_pii_leaves_non_pii(text):
    assert mask_pii(text) == text


def test_mask_pii_passes_none_and_non_strings():
    assert mask_pii(None) is None
    assert mask_pii(3.5) == 3.5


def test_luhn_option():
    assert luhn_valid("4111 1111 1111 1111") and not luhn_valid("4111 1111 1111 1112")
    assert mask_pii("4111111111111111", luhn=True) == "<CARD>"
    assert mask_pii("4111111111111112", luhn=True) == "4111111111111112"
    assert mask_pii("4111111111111112") == "<CARD>"  # default masks every 13-19 digit run


@pytest.mark.parametrize(
    "text, lang",
    [
        ("这个很好，物流也快", "zh"),
        ("服務態度非常差，再也不來了", "zh"),  # traditional characters
        ("Great product, fast shipping", "en"),
        ("Great product 👍 but 配送太慢了", "mixed"),
        ("iPhone 很好用，推荐", "zh"),
        ("Love it so much 好", "en"),
        ("Love it 很好", "mixed"),
        ("👍👍🎉", None),
        ("   \t\n", None),
        ("", None),
        ("12345", None),
        ("<PHONE> 联系我", "zh"),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_detect_language_none_input():
    assert detect_language(None) is None
