"""Entry point for AppTest: runs ../../../app.py exactly as ``streamlit run`` does.

AppTest resets Streamlit's "is there a pages/ folder" flag before every run, so with
app.py as its main script every rerun after the first would jump straight into the
page file (old multipage mode) and skip app.py's sign-in, navigation and sidebar.
A real server clears that flag for good once app.py calls ``st.navigation``. Running
app.py from a folder without ``pages/`` gives AppTest the real server's behaviour.
"""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[3] / "app.py"), run_name="__main__")
