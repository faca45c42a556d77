"""The Providers page's tabs, one module each; ``pages/providers.py`` keeps the page's layout
(a package, not files in ``pages/``, where every file would be a page)."""
