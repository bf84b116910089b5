"""EmotionThinker: prosody-aware explainable speech emotion reasoning."""
