"""Serving the promoted EmotionThinker model with BentoML 1.4: ``serving.service:EmotionThinker``.

The service is thin on purpose: input checks reuse the ingest rules (``emotionthinker.audio``), the prosody facts
reuse the prosody stage's measurement and calibration, and the answer comes from the one inference path that
evaluation uses (``emotionthinker.evaluation.inference.analyse_batch``), so a served answer is the answer the
leaderboard measured. The modules here hold only what is specific to HTTP: settings, upload handling, the guard
middleware (token and body size), the batching helpers and the web page.
"""
