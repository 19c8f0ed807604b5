"""The explorer's hover panel: the crops of the point under the mouse.

Plotly's hover labels cannot draw images, so a small Streamlit component
(``st.components.v2``, no iframe) listens to the scatter's ``plotly_hover``
events in the page, sends the hovered row to Python (debounced), and shows the
crops Python sends back as a ``data:`` URL. It lives in a fragment, so a hover
reruns only this panel, never the page or the chart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from stcrl_core.explore.scatter import png_data_url

HTML = '<div class="hover-crops"><span class="hint">Hover a point to see its crops.</span></div>'
CSS = """
.hover-crops { font-size: 0.8rem; color: #555; min-height: 2rem; }
.hover-crops img { width: 100%; image-rendering: pixelated; border-radius: 4px; }
"""
JS = """
export default function(component) {
  const { data, parentElement, setTriggerValue } = component;
  const box = parentElement.querySelector('.hover-crops');
  if (data && data.image) {
    box.innerHTML = '';
    const img = document.createElement('img');
    img.src = data.image;
    img.alt = data.caption;
    const caption = document.createElement('div');
    caption.textContent = data.caption;
    box.append(img, caption);
  }
  let timer = null;
  const attach = () => {
    const gd = document.querySelector(`.st-key-${data.chart} .js-plotly-plot`);
    if (!gd || typeof gd.on !== 'function') return false;
    if (gd.__stcrlHover) return true;
    gd.__stcrlHover = true;
    gd.on('plotly_hover', (event) => {
      const point = event.points && event.points[0];
      if (!point) return;
      const row = Array.isArray(point.customdata) ? point.customdata[0] : point.customdata;
      clearTimeout(timer);
      timer = setTimeout(() => setTriggerValue('hover', row), 120);
    });
    return true;
  };
  if (attach()) return () => clearTimeout(timer);
  const poll = setInterval(() => { if (attach()) clearInterval(poll); }, 300);
  return () => { clearInterval(poll); clearTimeout(timer); };
}
"""

_component = st.components.v2.component("stcrl.hover_crops", html=HTML, css=CSS, js=JS)


@st.fragment
def hover_panel(chart_key: str, crops: Callable[[int], tuple[np.ndarray, str]]) -> None:
    """Show the crops of the hovered point of the chart with key ``chart_key``.

    Args:
        chart_key: The ``key`` of the ``st.plotly_chart`` to follow.
        crops: ``crops(row) -> (image, caption)`` for a point's row.
    """
    state_key = f"{chart_key}_hovered"
    row = st.session_state.get(state_key)
    data: dict = {"chart": chart_key}
    if row is not None:
        try:
            image, caption = crops(int(row))
            data.update(image=png_data_url(image), caption=caption)
        except (KeyError, IndexError, ValueError):
            st.session_state.pop(state_key, None)
    result = _component(key=f"{chart_key}_hover", data=data, on_hover_change=lambda: None)
    hovered = getattr(result, "hover", None)
    if hovered is not None and hovered != row:
        st.session_state[state_key] = int(hovered)
        st.rerun(scope="fragment")
