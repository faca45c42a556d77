"""The usage warehouse (DuckDB): all of its SQL lives in this package."""

from core.warehouse.db import Warehouse, WarehouseBusy

__all__ = ["Warehouse", "WarehouseBusy"]
