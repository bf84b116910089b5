"""Rule-based judge of emotion rationales on the paper's four dimensions (see ``scoring`` for the rules).

>>> from emotionthinker.annotate.facts import Facts
>>> f = Facts("u1", "angry", None, "en", "male", None, "high", "high", "high", None, "voiced")
>>> judge("<think>He is loud and fast.</think><answer>angry</answer>", f).factual_alignment
5.0
"""

from emotionthinker.judge.scoring import DIMENSIONS, Claim, Judgement, judge

__all__ = ["DIMENSIONS", "Claim", "Judgement", "judge"]
