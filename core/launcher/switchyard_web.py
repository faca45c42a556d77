"""The app's server: `streamlit run core/launcher/switchyard_web.py` (what `make run` does).

Streamlit finds the ``st.App`` below and serves app.py through it, with Switchyard's
security headers, the session-cookie routes and no public metrics (see core/web.py). This
file sits in a folder of its own because Streamlit puts the launcher's folder first on
``sys.path``; here that shadows nothing.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

import streamlit as st  # noqa: E402

from core import web  # noqa: E402
from core.files import private_umask  # noqa: E402

private_umask()  # every runtime file this server creates is owner-only

app = st.App(str(ROOT / "app.py"), routes=web.routes(), middleware=web.middleware())
