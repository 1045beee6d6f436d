"""Figure dicts as HTML divs that plotly.js draws in the page, without plotly's Python figure machinery: the report's
figures are plain dicts already (long series as base64 typed arrays), and importing and running `plotly.io.to_html`
for them cost about 0.1 s of every report. The installed plotly package still supplies plotly.min.js."""

from __future__ import annotations

import json
import math
import uuid
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

_SAFE = (("<", "\\u003c"), (">", "\\u003e"), ("/", "\\u002f"))  # no string in the data can end the <script>


def _plain(o: Any) -> Any:
    """`o` with numpy values as Python ones and non-finite floats as None (JSON null: a gap in plotly.js)."""
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def to_js(o: Any) -> str:
    """Compact JSON for a <script>: what plotly.js reads, with <, > and / escaped."""
    out = json.dumps(_plain(o), separators=(",", ":"), allow_nan=False)
    for bad, good in _SAFE:
        out = out.replace(bad, good)
    return out


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.min.js bundle of the installed plotly package (inlined once per page, so it opens offline)."""
    spec = find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed: it supplies plotly.min.js for the reports")
    return (Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def figure_div(fig: dict[str, Any], config: dict[str, Any], include_plotlyjs: bool = False) -> str:
    """One figure (a dict with `data` and `layout`) as a div and the script that draws it; `include_plotlyjs` puts the
    plotly.js bundle before it (the page's first figure)."""
    div_id = str(uuid.uuid4())
    layout = fig.get("layout", {})
    height = layout.get("height")
    css_height = f"{height}px" if isinstance(height, (int, float)) else "100%"
    bundle = (f"<script>window.PlotlyConfig = {{MathJaxConfig: 'local'}};</script><script>{plotly_js()}</script>"
              if include_plotlyjs else "")
    draw = (f'if (document.getElementById("{div_id}")) {{Plotly.newPlot("{div_id}", {to_js(fig.get("data", []))}, '
            f"{to_js(layout)}, {json.dumps({'responsive': True, **config})})}}")
    return (f'<div style="height:{css_height}; width:100%;">{bundle}<div id="{div_id}" class="plotly-graph-div" '
            f'style="height:100%; width:100%;"></div><script>window.PLOTLYENV=window.PLOTLYENV || {{}};{draw};</script></div>')
