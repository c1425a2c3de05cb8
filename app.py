"""invmel: explore the inverse mel scale. Start with `streamlit run app.py`.

The entry point only sets the page up, restores the shared settings (from the URL on a
session's first run) and hands over to the page the user picked; the pages are in pages/.
"""

import streamlit as st

from pages import _ui as ui

st.set_page_config(page_title="invmel — the inverse mel scale", page_icon="🎛️", layout="wide")
ui.start_run()

page = st.navigation([
    st.Page("pages/home.py", title="Home", default=True),
    st.Page("pages/mel_scales.py", title="Mel scales"),
    st.Page("pages/invert.py", title="Invert"),
    st.Page("pages/compare.py", title="Compare solvers"),
    st.Page("pages/frameworks.py", title="Frameworks"),
])
ui.url_notices()
with ui.running_page():
    page.run()
