"""invmel: explore the inverse mel scale. Start with `streamlit run app.py`."""

import streamlit as st

st.set_page_config(page_title="invmel", page_icon="🎛️", layout="wide")
st.title("invmel — the inverse mel scale, explored")
st.write("The app's pages are being built; the numerical core lives in `invmel_core`.")
