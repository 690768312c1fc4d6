"""Tiny fixture trees in real datasets' layouts: generated frames with a detectable face.

Faces are scikit-image's LFW crops (the same ones `mini` uses) upscaled into a grey frame and
moved a little per frame; a "fake" is the same face with a tinted, blended lower half. MTCNN
finds these faces, so the full pipeline (decode -> detect -> crop -> cache) runs for real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def face_frames(source: int, n: int, fake: bool = False, size: int = 128) -> np.ndarray:
    """``(n, size, size, 3)`` uint8 frames of LFW face ``source``, jittered over time."""
    from PIL import Image
    from skimage.data import lfw_subset

    face = Image.fromarray((lfw_subset()[source % 100] * 255).astype(np.uint8)).resize((80, 80), Image.BICUBIC)
    face = np.asarray(face, dtype=np.float64)
    frames = np.full((n, size, size, 3), 90.0)
    for t in range(n):
        dx, dy = (t % 3) * 2, (t % 2) * 2
        patch = np.repeat(face[..., None], 3, axis=2)
        if fake:
            patch[40:, :, 0] = 0.7 * patch[40:, :, 0] + 0.3 * 200
        frames[t, 20 + dy:100 + dy, 20 + dx:100 + dx] = patch
    return frames.round().clip(0, 255).astype(np.uint8)


def write_video(path: Path, frames: np.ndarray, fps: int = 10) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_image(path: Path, frame: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path)
    return path
