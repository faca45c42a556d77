"""Side-by-side model comparisons: specs, sample data, runner, scoring and statistics.

* :mod:`core.compare.samples` - bundled sample photos and prompt sets, and users' uploads
* :mod:`core.compare.sample_store` - organizations' uploaded sample sets, and the samples a
  spec runs on (:func:`~core.compare.sample_store.resolve_samples`)
* :mod:`core.compare.spec` - :class:`~core.compare.spec.ComparisonSpec`, loaded from YAML

Submodules are imported directly (``from core.compare.spec import load_spec``) so that
importing one does not pull in the others.
"""
