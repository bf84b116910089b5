"""Data validation with Great Expectations: suites over every dataset the pipeline makes, run by the validate
stage (``stages/validate.py``) into Data Docs and metrics.

- :mod:`emotionthinker.validation.suites`: the derived tables and the expectation suites.
- :mod:`emotionthinker.validation.run`: the GX file context, checkpoints, Data Docs and the summary.
"""

from emotionthinker.validation.run import format_summary, load_inputs, run_suites, summarise
from emotionthinker.validation.suites import Inputs, Suite, build_suites

__all__ = ["Inputs", "Suite", "build_suites", "format_summary", "load_inputs", "run_suites", "summarise"]
