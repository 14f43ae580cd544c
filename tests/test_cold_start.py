"""What a cold start imports. The built-in voice skips the meta-device architecture check; files from outside the
package go through it, and it must not pull in torch._dynamo (about 1.3 s: PyTorch's reference kernels for weight
initialisation and most tensor operations on the meta device import it). No timings."""

import subprocess
import sys

from emovox.paths import default_voice_path, is_builtin_voice

PROBE = """
import sys
import numpy as np
from emovox.pipelines import EmotionalTTS
tts = EmotionalTTS.load()
audio, sr = tts.synthesize("Where were you?", "angry", steps=0)
assert np.abs(audio).max() > 0.01
print(sorted(m for m in ("torch._dynamo", "librosa", "scipy.signal", "matplotlib") if m in sys.modules))
"""


def test_built_in_voice_loads_without_the_heavy_imports():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


USER_FILES = """
import sys
import numpy as np
from emovox.pipelines import EmotionalTTS
tts = EmotionalTTS.load(sys.argv[1], vocoder=sys.argv[2])
audio, sr = tts.synthesize("Where were you?", "angry", steps=0)
assert np.abs(audio).max() > 0.01
print(sorted(m for m in ("torch._dynamo", "torch.fx.experimental.symbolic_shapes") if m in sys.modules))
"""


def test_a_users_voice_and_vocoder_are_checked_without_importing_dynamo(tmp_path):
    import shutil

    from emovox.vocoder.pretrained import pretrained_path

    voice, vocoder = tmp_path / "voice.safetensors", tmp_path / "vocoder.safetensors"
    shutil.copy(default_voice_path(), voice)
    shutil.copy(pretrained_path("universal"), vocoder)
    assert not is_builtin_voice(voice)
    out = subprocess.run([sys.executable, "-c", USER_FILES, str(voice), str(vocoder)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_only_the_package_voice_counts_as_built_in(tmp_path):
    import shutil

    assert is_builtin_voice(default_voice_path())
    copy = tmp_path / "default_voice.safetensors"
    shutil.copy(default_voice_path(), copy)
    assert not is_builtin_voice(copy)  # the same bytes elsewhere are a user's file: checked in full
    assert not is_builtin_voice(tmp_path / "missing.safetensors")
