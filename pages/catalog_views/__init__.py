"""The Model catalog page's views, one module per tab; ``pages/catalog.py`` keeps the page's
layout. A package, not files in ``pages/``, where every file would be a page."""
