"""The web front ends: the Gradio demo (:mod:`emovox.web.demo`) and the HTTP API (:mod:`emovox.web.server`).

Both are thin clients of :mod:`emovox.pipelines`; they need the ``web`` extra (``pip install 'emovox[web]'``).
"""
