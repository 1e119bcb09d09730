"""The clip renderer (see render.py): one chosen clip cut, reframed to 9:16, captioned and loudness-normalized."""
