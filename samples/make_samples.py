#!/usr/bin/env python3
"""Makes the sample photos in samples/photos (run once; the output is committed).

Everything here is drawn by this script: simple painted portraits on busy backgrounds,
stored the way cameras and phones store them (sideways pixels plus an EXIF orientation
tag, a GPS position, PNG, a photo too small for Microsoft 365, one without a user).
Needs Pillow: pip install pillow
"""
import math
import os
import random

from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "photos")

SKIN = [(224, 172, 138), (198, 134, 96), (141, 85, 54), (241, 194, 167), (110, 68, 45)]
HAIR = [(40, 28, 20), (90, 60, 30), (20, 20, 20), (160, 120, 60), (200, 200, 190)]
SHIRT = [(40, 70, 140), (150, 30, 40), (30, 110, 80), (90, 90, 90), (200, 160, 40)]


def background(w, h, rng):
    img = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(img)
    top = tuple(rng.randint(120, 220) for _ in range(3))
    bottom = tuple(rng.randint(30, 120) for _ in range(3))
    for y in range(h):
        t = y / max(1, h - 1)
        d.line([(0, y), (w, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
    # Office-ish clutter: shelves and windows, so that "most interesting part" is not trivial.
    for _ in range(12):
        x0, y0 = rng.randint(0, w), rng.randint(0, h)
        x1, y1 = x0 + rng.randint(40, w // 4), y0 + rng.randint(20, h // 5)
        d.rectangle([x0, y0, x1, y1], outline=tuple(rng.randint(0, 255) for _ in range(3)), width=3)
    return img.filter(ImageFilter.GaussianBlur(3))


def person(img, cx, cy, head, rng, i):
    """A head of height `head` centred at (cx, cy), with shoulders below."""
    d = ImageDraw.Draw(img)
    skin, hair, shirt = SKIN[i % len(SKIN)], HAIR[i % len(HAIR)], SHIRT[i % len(SHIRT)]
    hw = int(head * 0.78)
    # shoulders
    d.ellipse([cx - head * 1.6, cy + head * 0.55, cx + head * 1.6, cy + head * 3.2], fill=shirt)
    d.rectangle([cx - hw * 0.25, cy + head * 0.3, cx + hw * 0.25, cy + head * 0.75], fill=skin)
    # hair behind, head, hair on top
    d.ellipse([cx - hw * 0.62, cy - head * 0.62, cx + hw * 0.62, cy + head * 0.35], fill=hair)
    d.ellipse([cx - hw / 2, cy - head / 2, cx + hw / 2, cy + head / 2], fill=skin)
    d.chord([cx - hw * 0.55, cy - head * 0.62, cx + hw * 0.55, cy - head * 0.05], 180, 360, fill=hair)
    # eyes, brows, nose, mouth
    ey = cy - head * 0.05
    for sx in (-1, 1):
        ex = cx + sx * hw * 0.2
        d.ellipse([ex - hw * 0.09, ey - head * 0.04, ex + hw * 0.09, ey + head * 0.04], fill=(250, 250, 250))
        d.ellipse([ex - hw * 0.04, ey - head * 0.035, ex + hw * 0.04, ey + head * 0.035], fill=(60, 40, 30))
        d.line([ex - hw * 0.1, ey - head * 0.09, ex + hw * 0.1, ey - head * 0.1], fill=hair, width=max(2, head // 40))
    d.line([cx, ey + head * 0.02, cx - hw * 0.05, cy + head * 0.15], fill=tuple(max(0, c - 40) for c in skin), width=max(2, head // 60))
    d.arc([cx - hw * 0.18, cy + head * 0.12, cx + hw * 0.18, cy + head * 0.3], 20, 160, fill=(150, 60, 60), width=max(2, head // 50))


def portrait(w, h, cx, cy, head, seed):
    rng = random.Random(seed)
    img = background(w, h, rng)
    person(img, int(w * cx), int(h * cy), int(head * min(w, h)), rng, seed)
    return img.filter(ImageFilter.GaussianBlur(1))


# What the camera stored for each EXIF orientation, given the upright picture.
STORE = {
    1: lambda im: im,
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


def save_jpeg(img, name, orientation=1, gps=False, quality=92):
    exif = Image.Exif()
    exif[0x010F] = "m365-photos sample camera"  # Make
    exif[0x0112] = orientation
    if gps:
        # GPSInfo IFD: 47.6420 N, 122.1370 W (a made-up office car park).
        exif[0x8825] = {1: "N", 2: (47.0, 38.0, 31.2), 3: "W", 4: (122.0, 8.0, 13.2)}
    STORE[orientation](img).save(os.path.join(OUT, name), "JPEG", quality=quality, exif=exif.tobytes())


def main():
    os.makedirs(OUT, exist_ok=True)
    # Landscape office photo, person far to the right: a centre crop would cut them.
    save_jpeg(portrait(2400, 1600, 0.78, 0.38, 0.30, 1), "10432.jpg", gps=True)
    # Phone portrait held sideways: pixels stored rotated, EXIF orientation 6.
    save_jpeg(portrait(1500, 2000, 0.45, 0.30, 0.22, 2), "10433.jpg", orientation=6)
    # Upside-down (orientation 3) and orientation 8.
    save_jpeg(portrait(1800, 1800, 0.5, 0.42, 0.33, 3), "10434.jpeg", orientation=3)
    save_jpeg(portrait(1200, 1700, 0.55, 0.28, 0.25, 4), "10435.JPG", orientation=8)
    # A PNG from a scanner, in a subfolder.
    os.makedirs(os.path.join(OUT, "scans"), exist_ok=True)
    portrait(1000, 1400, 0.5, 0.3, 0.28, 5).save(os.path.join(OUT, "scans", "10436.png"))
    # Too small for 648 px: processed at its own size and flagged.
    save_jpeg(portrait(400, 520, 0.5, 0.35, 0.3, 6), "10437.jpg")
    # Someone in the HR export who has left the tenant: Graph does not know them.
    save_jpeg(portrait(1000, 1300, 0.5, 0.3, 0.28, 8), "10440.jpg")
    # A photo whose name matches nobody in the CSV.
    save_jpeg(portrait(900, 1200, 0.5, 0.3, 0.3, 7), "99999.jpg")
    # Not a photo at all, but named like one.
    with open(os.path.join(OUT, "10438.jpg"), "wb") as f:
        f.write(b"this is a text file that someone renamed to .jpg\n")


if __name__ == "__main__":
    main()
