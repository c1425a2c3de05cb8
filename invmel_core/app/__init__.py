"""What only the Streamlit app needs (settings as widgets see them, live solves, worker processes, comparison,
code export, charts, the Home demo). The library never imports this package (``tests`` check it)."""
