"""The Compare page's views, one module each; ``pages/compare.py`` keeps the page's layout.

They live in a package rather than directly in ``pages/``, where every file would be a page.
Views only lay out widgets: the rules behind them are in :mod:`core.compare.service` and the
figures in :mod:`core.charts`.
"""
