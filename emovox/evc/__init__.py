"""Emotional voice conversion: change the emotion of a recording, keep its words and its speaker.

The prosody path (:mod:`emovox.evc.prosody`): WORLD analysis of the source, a learned map from the emotion
space ``z`` to prosody changes (:mod:`emovox.evc.model`, trained by :mod:`emovox.evc.training` on the synthetic
corpus's parallel renderings), and WORLD resynthesis of the source voice with the new F0 contour, timing, level,
tilt and voice quality. It keeps the speaker by construction and works on voices never seen.

The user-facing entry point is :class:`emovox.conversion.VoiceConversion`.
"""
