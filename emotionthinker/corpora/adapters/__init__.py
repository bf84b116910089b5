"""Corpus adapters, one module per format; importing this package registers every one of them.

See :mod:`emotionthinker.corpora.base` for what an adapter yields.
"""

from emotionthinker.corpora.adapters import (  # noqa: F401
    cremad,
    emodb,
    esd,
    iemocap,
    manifest,
    meld,
    ravdess,
    savee,
    synthetic,
    tess,
)
