"""Traces: the JSON format, labelling a path of states, replay, and the text view.

Renderers read traces and never re-run the model. Imports `checker.semantics` and below.
"""

from .format import FORMAT, Trace, TraceError, TraceStep, build_trace
from .replay import Replay, replay
from .text import render_text

__all__ = ["FORMAT", "Replay", "Trace", "TraceError", "TraceStep", "build_trace", "render_text", "replay"]
