"""The app's pages: thin storyboards (widgets, layout, calls into core, figures from
core.charts). A package only so the layer contracts can check their imports; Streamlit skips
this file when it lists pages."""
