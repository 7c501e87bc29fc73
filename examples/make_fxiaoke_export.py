"""Write ``examples/fxiaoke_export/``: a small CRM export in the shape of a 纷享销客 (Fxiaoke) download.

Chinese headers, ``2024-03-05 14:30``-style order times, a currency column, Chinese channel
names, a GB18030 CSV (what Chinese Excel saves) and an XLSX: the inverse of
``src/resources/mappings/fxiaoke_zh.yaml``, built from a 200-customer synthetic company so that
``custsat ingest`` can be tried without a CRM of one's own::

    .venv/bin/python examples/make_fxiaoke_export.py
"""

from __future__ import annotations

from pathlib import Path

import yaml

from custsat.config import RESOURCES_DIR
from custsat.data.synth import generate_crm

OUT = Path(__file__).resolve().parent / "fxiaoke_export"


def main() -> None:
    spec = yaml.safe_load((RESOURCES_DIR / "mappings" / "fxiaoke_zh.yaml").read_text(encoding="utf-8"))["tables"]
    tables = generate_crm(200, seed=11, as_of="2026-06-30").tables
    OUT.mkdir(exist_ok=True)
    for name, file in (("customers", "客户.csv"), ("transactions", "订单.csv"), ("feedback", "客户反馈.xlsx")):
        cols = spec[name]["columns"]
        frame = tables[name][[c for c in cols if c in tables[name].columns]].copy()
        for column, codes in spec[name].get("values", {}).items():
            frame[column] = frame[column].map({v: k for k, v in codes.items()}).fillna(frame[column])
        if "date_format" in spec[name]:
            frame["timestamp"] = frame["timestamp"].dt.strftime(spec[name]["date_format"])
        if "currency_column" in spec[name]:
            frame[spec[name]["currency_column"]] = "CNY"
        frame = frame.rename(columns=cols)
        if file.endswith(".csv"):
            frame.to_csv(OUT / file, index=False, encoding="gb18030")
        else:
            frame.to_excel(OUT / file, index=False)
        print(f"wrote {OUT / file}: {len(frame)} rows")


if __name__ == "__main__":
    main()
