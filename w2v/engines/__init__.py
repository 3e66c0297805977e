"""Update engines behind one interface (:class:`w2v.engines.base.Engine`); importing this package
registers the built-in ones: ``numba`` (CPU kernel), ``triton`` (fused GPU kernel) and ``torch``
(batched, any device)."""

from w2v.engines import hogwild, numba_engine, torch_engine, triton_engine  # noqa: F401  (registration)
from w2v.engines.base import AUTO_ORDER, ENGINES, Engine, MergedTables, select_engine, step_result

__all__ = ["AUTO_ORDER", "ENGINES", "Engine", "MergedTables", "select_engine", "step_result"]
