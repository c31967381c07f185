"""Traces: the JSON format, labelling a path of states, replay, and the text view.

Renderers read traces and never re-run the model. Imports `checker.semantics` and below.
"""

from .format import FORMAT, Trace, TraceError, TraceStep, build_trace
from .replay import Properties, Replay, replay, reproduce
from .text import render_text

__all__ = ["FORMAT", "Properties", "Replay", "Trace", "TraceError", "TraceStep", "build_trace", "render_text", "replay",
           "reproduce"]
