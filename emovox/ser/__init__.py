"""The speech-emotion recogniser (SER) that judges emovox's speech; used by the evaluation, never by synthesis.

Two recognisers share one checkpoint kind (``"ser"``) and one inference API,
``EmotionRecognizer.load(path).predict(x)`` / ``.predict_batch(xs, sample_rate=None, speakers=None)`` returning
:class:`SERResult` ``(probs, label, adv, embedding)``:

- the log-mel CNN (:mod:`emovox.ser.train`, ``emovox train ser``): :mod:`emovox.ser.data`,
  :mod:`emovox.ser.models.cnn`;
- the feature recogniser (:mod:`emovox.ser.fit`, ``emovox ser fit``): utterance statistics and Whisper encoder
  states (:mod:`emovox.ser.features`), optional speaker normalisation (:mod:`emovox.ser.normalise`), a logistic
  regression or small MLP with an ADV regressor (:mod:`emovox.ser.models.features`).

:mod:`emovox.ser.cv` cross-validates both by held-out speakers. This package sits above ``emotion`` and
``data_prep``; neither of them (nor ``tts``, ``vocoder``, ``audio``, ``text``) imports it.
"""

from emovox.ser.infer import EmotionRecognizer, SERInput, SERResult

__all__ = ["EmotionRecognizer", "SERInput", "SERResult"]
