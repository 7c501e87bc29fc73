"""A Chinese-header CRM export is mapped, validated and written as contract Parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from custsat.config import RESOURCES_DIR
from custsat.data.contracts import ContractError
from custsat.data.ingest import ingest
from custsat.data.mapping import MappingError, load_mapping

MAPPINGS = sorted((RESOURCES_DIR / "mappings").glob("*.yaml"))


def write_chinese_export(folder: Path, encoding: str = "gb18030") -> dict[str, Path]:
    customers = pd.DataFrame(
        {"客户编号": ["K001", "K002"], "创建时间": ["2024-01-03 09:00", "2024-02-11 10:30"], "所在地区": ["上海", "广州"], "来源渠道": ["线上", "门店"], "客户级别": ["VIP", "普通"], "行业": ["零售", "餐饮"]}
    )
    orders = pd.DataFrame(
        {"客户编号": ["K001", "K001", "K002"], "订单编号": ["D1", "D2", "D3"], "下单时间": ["2024-03-01 12:00", "2024-03-09 08:15", "2024-04-02 19:45"], "金额": ["1,299.00", "-99", "58.5"], "数量": ["1", "1", "2"], "产品分类": ["家电", "家电", "食品"], "币种": ["CNY", "CNY", "CNY"]}
    )
    feedback = pd.DataFrame(
        {"反馈编号": ["F1", "F2"], "客户编号": ["K001", "K002"], "反馈时间": ["2024-03-10", "2024-04-05"], "反馈渠道": ["电话", "问卷"], "反馈内容": ["退货一直没人处理，电话13812345678", "很满意"], "满意度评分": ["1", "5"], "推荐意愿": ["2", "9"], "解决时间": ["", "2024-04-06"]}
    )
    paths = {"customers": folder / "客户.csv", "transactions": folder / "订单.csv", "feedback": folder / "反馈.xlsx"}
    customers.to_csv(paths["customers"], index=False, encoding=encoding)
    orders.to_csv(paths["transactions"], index=False, encoding=encoding)
    feedback.to_excel(paths["feedback"], index=False)
    return paths


def test_chinese_header_export_round_trip(tmp_path):
    paths = write_chinese_export(tmp_path)
    mapping = load_mapping(RESOURCES_DIR / "mappings" / "fxiaoke_zh.yaml")
    written = ingest(paths, tmp_path / "interim", mapping, unknown_customers="error")
    tx = pd.read_parquet(written["transactions"])
    assert tx["amount"].tolist() == [1299.0, -99.0, 58.5]
    assert tx["timestamp"].iloc[2] == pd.Timestamp("2024-04-02 19:45")
    assert set(tx["currency"]) == {"CNY"}
    feedback = pd.read_parquet(written["feedback"])
    assert feedback["channel"].tolist() == ["phone", "survey"]  # recoded from 电话 / 问卷
    assert feedback["resolved_at"].isna().tolist() == [True, False]
    customers = pd.read_parquet(written["customers"])
    assert customers["行业"].tolist() == ["零售", "餐饮"]  # unmapped attributes survive


def test_failed_ingest_writes_nothing(tmp_path):
    paths = write_chinese_export(tmp_path)
    orders = pd.read_csv(paths["transactions"], encoding="gb18030", dtype=str)
    orders.loc[1, "下单时间"] = "三月九日"
    orders.to_csv(paths["transactions"], index=False, encoding="gb18030")
    mapping = load_mapping(RESOURCES_DIR / "mappings" / "fxiaoke_zh.yaml")
    with pytest.raises(ContractError, match="下单时间|三月九日") as info:
        ingest(paths, tmp_path / "interim", mapping)
    assert info.value.column == "timestamp" and "订单.csv" in str(info.value)
    assert not (tmp_path / "interim").exists()


def test_mapping_to_a_missing_header_names_the_headers_found(tmp_path):
    paths = write_chinese_export(tmp_path)
    mapping = load_mapping(RESOURCES_DIR / "mappings" / "jiandaoyun_zh.yaml")
    with pytest.raises(ContractError, match="not found in the file"):
        ingest(paths, tmp_path / "interim", mapping)


def test_date_format_in_mapping_is_applied(tmp_path):
    mapping_file = tmp_path / "m.yaml"
    mapping_file.write_text(
        "tables:\n  transactions:\n    columns: {customer_id: 会员号, timestamp: 消费日期, amount: 消费金额}\n"
        "    date_format: '%Y年%m月%d日'\n  customers:\n    columns: {customer_id: 会员号}\n",
        encoding="utf-8",
    )
    pd.DataFrame({"会员号": ["1"]}).to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame({"会员号": ["1"], "消费日期": ["2024年03月05日"], "消费金额": ["10"]}).to_csv(tmp_path / "t.csv", index=False)
    written = ingest({"customers": tmp_path / "c.csv", "transactions": tmp_path / "t.csv"}, tmp_path / "out", load_mapping(mapping_file))
    assert pd.read_parquet(written["transactions"])["timestamp"].iloc[0] == pd.Timestamp("2024-03-05")


@pytest.mark.parametrize("path", MAPPINGS, ids=[p.stem for p in MAPPINGS])
def test_shipped_mappings_load(path):
    tables = set(load_mapping(path))
    assert {"customers", "transactions"} <= tables or tables == {"surveys"}  # a CRM export or a survey


def test_bad_mapping_is_refused_with_the_contract_columns(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables:\n  transactions:\n    columns: {client: 客户}\n", encoding="utf-8")
    with pytest.raises(MappingError, match="unknown contract column"):
        load_mapping(bad)


def test_shipped_example_export_ingests_with_its_mapping(tmp_path):
    """The README walkthrough: examples/fxiaoke_export maps cleanly onto the contracts."""
    folder = Path(__file__).resolve().parents[1] / "examples" / "fxiaoke_export"
    paths = {"customers": folder / "客户.csv", "transactions": folder / "订单.csv", "feedback": folder / "客户反馈.xlsx"}
    written = ingest(paths, tmp_path, load_mapping(RESOURCES_DIR / "mappings" / "fxiaoke_zh.yaml"),
                     unknown_customers="error")
    tx = pd.read_parquet(written["transactions"])
    fb = pd.read_parquet(written["feedback"])
    assert len(pd.read_parquet(written["customers"])) == 200 and len(tx) == 2057
    assert set(fb["channel"]) <= {"survey", "email", "phone", "chat", "social", "review", "app"}
    assert tx["timestamp"].notna().all() and fb["text"].str.len().gt(0).any()
