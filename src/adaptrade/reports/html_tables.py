"""The tables of report.html: the full ranking (sortable by any column, filterable by symbol) and
the yearly returns; plain HTML plus one small script, so the page still opens offline."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

from adaptrade.backtest.aggregate import rank
from adaptrade.backtest.results import STOCK_COLUMNS

PCT_COLUMNS = {
    "total_return", "buy_hold_return", "benchmark_return", "outperformance", "win_rate",
    "max_drawdown", "exposure", "excess_vs_buy_hold",
}  # fmt: skip
PCT_WORDS = ("return", "share", "buy_hold", "benchmark", "outperformance", "drawdown", "exposure", "win_rate")

# Click a header to sort (again to reverse); type in the box to keep rows whose symbol contains it.
SORT_JS = """<script>
(function(){
  var t=document.getElementById('ranking'); if(!t) return;
  var body=t.tBodies[0], f=document.getElementById('ranking-filter'), n=document.getElementById('ranking-count');
  function key(td){var v=td.getAttribute('data-v'); return v===null? td.textContent : (v===''? NaN : parseFloat(v));}
  Array.prototype.forEach.call(t.tHead.rows[0].cells, function(th, c){
    th.style.cursor='pointer';
    th.addEventListener('click', function(){
      var asc = th.getAttribute('data-sort')!=='asc';
      Array.prototype.forEach.call(t.tHead.rows[0].cells, function(h){h.removeAttribute('data-sort');});
      th.setAttribute('data-sort', asc?'asc':'desc');
      var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){
        var x=key(a.cells[c]), y=key(b.cells[c]);
        if(typeof x==='number'&&typeof y==='number'){
          if(isNaN(x)&&isNaN(y)) return 0; if(isNaN(x)) return 1; if(isNaN(y)) return -1;
          return asc? x-y : y-x;}
        return asc? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  if(f) f.addEventListener('input', function(){
    var q=f.value.trim().toUpperCase(), shown=0;
    Array.prototype.forEach.call(body.rows, function(r){
      var ok=r.cells[1].textContent.toUpperCase().indexOf(q)>=0; r.style.display=ok?'':'none'; if(ok) shown++;});
    if(n) n.textContent=shown+' of '+body.rows.length+' shown';
  });
})();
</script>"""


def fmt_cell(col: str, v: Any) -> str:
    """One table cell: percentages for return-like columns, dates as YYYY-MM-DD."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or v is pd.NaT:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if col in PCT_COLUMNS or (isinstance(v, (float, np.floating)) and any(w in col for w in PCT_WORDS)):
        return f"{float(v):.1%}"
    if col == "sharpe" or (isinstance(v, (float, np.floating)) and "sharpe" in col):
        return f"{float(v):.2f}" if col == "sharpe" or ("excess" not in col) else f"{float(v):.4f}"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(v).date())
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    return html.escape(str(v))


def _sort_value(v: Any) -> str | None:
    """The number a cell sorts by (data-v), '' for a missing number, None for text cells."""
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return repr(float(v)) if math.isfinite(float(v)) else ""
    return None


def _cell(c: str, v: Any) -> str:
    """One <td>: the formatted value, and data-v when it sorts as a number."""
    sv = _sort_value(v)
    return f'<td data-v="{sv}">{fmt_cell(c, v)}</td>' if sv is not None else f"<td>{fmt_cell(c, v)}</td>"


def _float_format(c: str) -> str:
    """The format fmt_cell gives a finite float in column c."""
    if c in PCT_COLUMNS or any(w in c for w in PCT_WORDS):
        return ".1%"
    if c == "sharpe" or "sharpe" in c:
        return ".2f" if c == "sharpe" or "excess" not in c else ".4f"
    return ".4g"


def _column_cells(c: str, s: pd.Series) -> list[str]:
    """Every <td> of one column: `_cell` of each value, with the type dispatch done once for float and bool columns
    (a 500-stock ranking is 11,000 cells)."""
    values = s.tolist()
    if s.dtype == np.float64:
        spec = _float_format(c)
        return [f'<td data-v="{v!r}">{v:{spec}}</td>' if math.isfinite(v) else '<td data-v="">–</td>' for v in values]
    if s.dtype == np.bool_:
        return ['<td data-v="1">yes</td>' if v else '<td data-v="0">no</td>' for v in values]
    return [_cell(c, v) for v in values]


def html_table(df: pd.DataFrame, table_id: str | None = None) -> str:
    """An HTML table; numeric cells carry data-v so the script sorts them as numbers."""
    cols = list(df.columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    columns = [_column_cells(str(c), df.iloc[:, k]) for k, c in enumerate(cols)]
    rows = ["<tr>" + "".join(cells) + "</tr>" for cells in zip(*columns)] if cols else ["<tr></tr>"] * len(df)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def ranking_tables(stocks: pd.DataFrame) -> str:
    """Every stock, ranked by Sharpe, every stocks.csv column: sortable by any header, filterable by symbol."""
    cols = ["rank"] + STOCK_COLUMNS + [c for c in stocks.columns if c not in STOCK_COLUMNS]
    ranked = rank(stocks, "sharpe")[cols]
    n = len(ranked)
    return (f"<h2>Ranking by sharpe: all {n} stocks</h2>"
            f'<p>Click a column header to sort by it (again to reverse). <input id="ranking-filter" placeholder="filter symbols" '
            f'size="16"> <span id="ranking-count">{n} of {n} shown</span></p>{html_table(ranked, "ranking")}')


def yearly_table(x: np.ndarray, chosen: str, strat: np.ndarray, bh: np.ndarray, bench: np.ndarray | None, bname: str,
                 avg: list[np.ndarray | None]) -> str:
    """Calendar-year returns: the chosen stock's strategy and buy & hold, the benchmark, and the averages."""
    from adaptrade.reports.html import period_returns

    series = {f"{chosen} strategy": strat, f"{chosen} buy & hold": bh}
    if bench is not None:
        series[bname] = bench
    if avg[0] is not None:
        series["average strategy"] = avg[0]
    if avg[1] is not None:
        series["average buy & hold"] = avg[1]
    frame = pd.DataFrame({k: period_returns(x, v, "Y") for k, v in series.items()})
    if frame.empty:
        return ""
    frame.index = [str(p.year) for p in frame.index]
    body = "".join(
        f"<tr><th>{y}</th>" + "".join(f"<td>{'–' if not np.isfinite(v) else f'{v:+.1%}'}</td>" for v in r) + "</tr>"
        for y, r in zip(frame.index, frame.to_numpy(dtype=np.float64)))
    head = "<th>year</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    return f'<h2>Yearly returns</h2><table id="yearly"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
