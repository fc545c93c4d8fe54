"""The context optimizer: spectral, contradiction-aware compression of a chat.

Entry point for the graph: :func:`optimize_messages`. One module a step: ``units``
(unitize), ``embed``, ``signed_graph`` and ``facts`` (graph edges, pins, corrections),
``spectral``, ``select``, ``report``; ``pipeline`` runs them in order.
"""

from tools.optimizer.facts import FieldReader
from tools.optimizer.nli import HttpNli, LocalNli, NliProvider, NliUnavailableError, build_nli
from tools.optimizer.pipeline import (
    OptimizationResult,
    OptimizerConfig,
    TurnsResult,
    optimize_messages,
    optimize_turns,
)
from tools.optimizer.report import OptimizerReport
from tools.optimizer.units import ToolCall, Turn

__all__ = [
    "FieldReader",
    "HttpNli",
    "LocalNli",
    "NliProvider",
    "NliUnavailableError",
    "OptimizationResult",
    "OptimizerConfig",
    "OptimizerReport",
    "ToolCall",
    "Turn",
    "TurnsResult",
    "build_nli",
    "optimize_messages",
    "optimize_turns",
]
