"""CPU time per image of the ImageNet training loaders NVIDIA's 8-GPU runs used, relative to
the loader FFCV measured per core.

The host input-pipeline ceiling (ipuexplore.models.netplan) takes its per-core rate from
FFCV's published benchmark of PyTorch's DataLoader: JPEG files from RAM, RandomResizedCrop to
224 (bilinear) and a random flip. NVIDIA's EfficientNet runs resample bicubic and add
AutoAugment; this script times both pipelines on one core of this machine and prints the
ratio, which divides FFCV's rate in the specs of that recipe (loader_img_s_per_core in
docs/hw-examples/dgx-*-autoaugment.toml). Run:

    python scripts/measure_loader.py [--images 400] [--repeats 5]

The images are synthetic photographs (1/f amplitude spectrum, the statistics of natural
images) at ImageNet's most common size, 500 x 375, saved as JPEG at quality 90; the time of
each pipeline is the median over the repeats (the pipelines taking turns, each on the same
crops and policies) of the mean process CPU time per image, so that other work on a shared
machine does not count.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import statistics
import time

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

SIZE = (500, 375)  # ImageNet's most common training image size (w, h)


def synthetic_photo(rng: np.random.Generator, size=SIZE) -> bytes:
    """A JPEG whose pixels have a natural image's 1/f amplitude spectrum."""
    w, h = size
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = 1.0
    channels = []
    for _ in range(3):
        spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f
        plane = np.fft.irfft2(spectrum, s=(h, w))
        plane = (plane - plane.mean()) / plane.std()
        channels.append(plane)
    mix = np.stack(channels, axis=-1) @ np.array([[1.0, 0.8, 0.6], [0.0, 0.5, 0.3], [0.0, 0.0, 0.4]])
    pixels = np.clip(128 + 40 * mix, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def random_resized_crop_box(w: int, h: int) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop sampling: area 8-100% of the image, aspect 3/4-4/3,
    ten tries, else the central crop at the nearest allowed aspect."""
    for _ in range(10):
        area = w * h * random.uniform(0.08, 1.0)
        aspect = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = random.randint(0, w - cw), random.randint(0, h - ch)
            return x, y, x + cw, y + ch
    cw, ch = (w, round(w / (4 / 3))) if w / h > 4 / 3 else (w, h)
    return (w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch


GREY = (128, 128, 128)


def _rotate(img, m):
    # as NVIDIA's policy does it: rotate an RGBA copy and composite it over grey
    rot = img.convert("RGBA").rotate(30 * m / 10 * random.choice((-1, 1)))
    return Image.composite(rot, Image.new("RGBA", rot.size, (128,) * 4), rot).convert(img.mode)


def _shear(axis):
    def op(img, m):
        s = 0.3 * m / 10 * random.choice((-1, 1))
        coeffs = (1, s, 0, 0, 1, 0) if axis == "x" else (1, 0, 0, s, 1, 0)
        return img.transform(img.size, Image.AFFINE, coeffs, Image.BICUBIC, fillcolor=GREY)
    return op


def _translate_y(img, m):
    return img.transform(img.size, Image.AFFINE, (1, 0, 0, 0, 1, 250 * m / 10 * random.choice((-1, 1))), fillcolor=GREY)


def _solarize_add(img, m):
    add = round(110 * m / 10)
    return img.point([min(255, i + add) if i < 128 else i for i in range(256)] * 3)


OPS = {  # PIL operations of AutoAugment's ImageNet policy, magnitude 0-10
    "equalize": lambda img, m: ImageOps.equalize(img),
    "autocontrast": lambda img, m: ImageOps.autocontrast(img),
    "invert": lambda img, m: ImageOps.invert(img),
    "posterize": lambda img, m: ImageOps.posterize(img, 8 - round(4 * m / 10)),
    "solarize": lambda img, m: ImageOps.solarize(img, 256 - 25.6 * m),
    "solarizeadd": _solarize_add,
    "color": lambda img, m: ImageEnhance.Color(img).enhance(0.1 + 0.18 * m),
    "rotate": _rotate,
    "shearX": _shear("x"),
    "shearY": _shear("y"),
    "translateY": _translate_y,
}

# The 25 ImageNet sub-policies (Cubuk et al. 2019, "AutoAugment", appendix), as NVIDIA's
# DeepLearningExamples ConvNets autoaugment.py lists them: (p1, op1, m1, p2, op2, m2).
POLICY = [(float(p1), op1, int(m1), float(p2), op2, int(m2)) for p1, op1, m1, p2, op2, m2 in (line.split() for line in """
    0.8 equalize 1 0.8 shearY 4 | 0.4 color 9 0.6 equalize 3 | 0.4 color 1 0.6 rotate 8
    0.8 solarize 3 0.4 equalize 7 | 0.4 solarize 2 0.6 solarize 2 | 0.2 color 0 0.8 equalize 8
    0.4 equalize 8 0.8 solarizeadd 3 | 0.2 shearX 9 0.6 rotate 8 | 0.6 color 1 1.0 equalize 2
    0.4 invert 9 0.6 rotate 0 | 1.0 equalize 9 0.6 shearY 3 | 0.4 color 7 0.6 equalize 0
    0.4 posterize 6 0.4 autocontrast 7 | 0.6 solarize 8 0.6 color 9 | 0.2 solarize 4 0.8 rotate 9
    1.0 rotate 7 0.8 translateY 9 | 0.0 shearX 0 0.8 solarize 4 | 0.8 shearY 0 0.6 color 4
    1.0 color 0 0.6 rotate 2 | 0.8 equalize 4 0.0 equalize 8 | 1.0 equalize 4 0.6 autocontrast 2
    0.4 shearY 7 0.6 solarizeadd 7 | 0.8 posterize 2 0.6 solarize 10 | 0.6 solarize 8 0.6 equalize 1
    0.8 color 6 0.4 rotate 5""".replace("\n", "|").split("|") if line.strip())]


def autoaugment(img: Image.Image) -> Image.Image:
    p1, op1, m1, p2, op2, m2 = random.choice(POLICY)
    if random.random() < p1:
        img = OPS[op1](img, m1)
    if random.random() < p2:
        img = OPS[op2](img, m2)
    return img


def pipeline(bicubic: bool, augment: bool, size: int = 224):
    resample = Image.BICUBIC if bicubic else Image.BILINEAR

    def run(data: bytes) -> np.ndarray:
        img = Image.open(io.BytesIO(data)).convert("RGB")  # ImageFolder's loader: decode
        img = img.resize((size, size), resample, box=random_resized_crop_box(*img.size))
        if random.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if augment:
            img = autoaugment(img)
        # fast_collate's copy into a channels-first uint8 batch (NVIDIA's dataloaders.py)
        return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))

    return run


def times_per_image(runs: list, images: list[bytes], repeats: int) -> list[float]:
    """Each pipeline's median time per image; the pipelines take turns in every repeat so
    that a noisy machine slows them alike."""
    samples = [[] for _ in runs]
    for _ in range(repeats):
        for run, out in zip(runs, samples):
            random.seed(0)  # the same crops, flips and policies for every pipeline
            start = time.process_time()
            for data in images:
                run(data)
            out.append((time.process_time() - start) / len(images))
    return [statistics.median(s) for s in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    random.seed(0)
    images = [synthetic_photo(rng) for _ in range(args.images)]
    print(f"{len(images)} JPEGs of {SIZE[0]}x{SIZE[1]}, mean {sum(map(len, images)) / len(images) / 1e3:.0f} kB")
    cases = {
        "reference (FFCV's PyTorch baseline; NVIDIA's ResNets): decode, RRC bilinear, flip": (False, False),
        "RRC bicubic": (True, False),
        "NVIDIA's EfficientNet: decode, RRC bicubic, flip, AutoAugment": (True, True),
        "the same at 380 px (EfficientNet-B4)": (True, True, 380),
    }
    times = dict(zip(cases, times_per_image([pipeline(*flags) for flags in cases.values()], images, args.repeats)))
    ref = next(iter(times.values()))
    for name, t in times.items():
        print(f"{t * 1e3:7.3f} ms/image  {t / ref:5.3f} x reference  {name}")


if __name__ == "__main__":
    main()
