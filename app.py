"""invmel: explore the inverse mel scale. Start with `streamlit run app.py`.

The entry point only sets the page up, restores the shared settings (from the URL on a
session's first run) and hands over to the page the user picked; the pages are in pages/.

Streamlit runs this file as ``__main__``. The guard keeps the worker processes of
``invmel_core.app.offload`` from running the app again: Python's multiprocessing re-imports the
main module in each new worker (as ``__mp_main__``).
"""

if __name__ == "__main__":
    import streamlit as st

    from pages import _server
    from pages import _state as session

    # A local image, not a Material icon: Streamlit fetches those favicons from fonts.gstatic.com.
    st.set_page_config(page_title="invmel — the inverse mel scale", page_icon="assets/favicon.png",
                       layout="wide")
    session.start_run()
    _server.install()   # once: caches and expired sessions given back (pages/_server.py)

    page = st.navigation([
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/mel_scales.py", title="Mel scales", icon=":material/straighten:"),
        st.Page("pages/invert.py", title="Invert", icon=":material/replay:"),
        st.Page("pages/compare.py", title="Compare solvers", icon=":material/compare_arrows:"),
        st.Page("pages/frameworks.py", title="Frameworks", icon=":material/extension:"),
    ])
    session.url_notices()
    if page.url_path != "invert":   # a solve left behind pauses, and says why when the user is back
        from pages import _inversion

        _inversion.left_page()
    with session.running_page():
        page.run()
