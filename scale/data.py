"""Training and scoring images for the scale scripts, as our loaders give them: pixels in [0, 1], NCHW float32.
MNIST-format IDX files (MNIST, Fashion-MNIST; raw or gzipped) and folders of PNG/JPEG/WebP decoded with Pillow."""
import gzip
import os

import numpy as np
import torch

IMAGE_EXTENSIONS = {'.png', '.jpg', '.jpeg', '.webp'}


def _idx(folder, names):
    for name in names:
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return (gzip.open if name.endswith('.gz') else open)(path, 'rb').read()
    raise FileNotFoundError(f'none of {", ".join(names)} in {folder}')


def read_idx_labels(folder, split):
    """The `split` labels of an MNIST-format folder as a uint8 array [N]."""
    raw = _idx(folder, (f'{split}-labels-idx1-ubyte.gz', f'{split}-labels-idx1-ubyte', f'{split}-labels.idx1-ubyte'))
    return np.frombuffer(raw, dtype=np.uint8, offset=8, count=int.from_bytes(raw[4:8], 'big'))


def read_idx_images(folder, split):
    """The `split` ('train' or 't10k') images of an MNIST-format folder as a uint8 array [N, 28, 28]."""
    raw = _idx(folder, (f'{split}-images-idx3-ubyte.gz', f'{split}-images-idx3-ubyte', f'{split}-images.idx3-ubyte'))
    n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(3))
    return np.frombuffer(raw, dtype=np.uint8, offset=16, count=n * h * w).reshape(n, h, w)


class ArrayImages(torch.utils.data.Dataset):
    """uint8 images [N, H, W] or [N, H, W, C] held in memory, served as float32 [C, H, W] in [0, 1]."""

    def __init__(self, pixels):
        self.pixels = pixels if pixels.ndim == 4 else pixels[..., None]

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        return torch.from_numpy(self.pixels[i].transpose(2, 0, 1).astype(np.float32) / 255)


def list_images(folder):
    """Every image file under `folder`, sorted by path (sub-folders included), as our folder loader lists them."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files) if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return sorted(found)


def load_image(path, height, width, channels):
    """One image as float32 [C, H, W] in [0, 1]: converted to grey or RGB, resized (bilinear) only when its size
    differs (our loader resizes with libvips: resized images differ slightly from ours; same-size ones are exact)."""
    from PIL import Image
    with Image.open(path) as im:
        im = im.convert('L' if channels == 1 else 'RGB')
        if im.size != (width, height):
            im = im.resize((width, height), Image.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
    a = a[..., None] if a.ndim == 2 else a
    return torch.from_numpy(a.transpose(2, 0, 1).astype(np.float32) / 255)


class FolderImages(torch.utils.data.Dataset):
    """A folder of images decoded on demand (a DataLoader's workers decode in parallel; nothing held in memory)."""

    def __init__(self, folder, height, width, channels):
        self.files, self.shape = list_images(folder), (height, width, channels)
        if not self.files:
            raise FileNotFoundError(f'no PNG/JPEG/WebP images under {folder}')

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return load_image(self.files[i], *self.shape)


def training_images(cfg, mnist=None, images=None, subset=None):
    """The images to train on: an image folder when given, else the MNIST-format training file of `mnist` (or of
    the config's MNIST.path), with the config's `classes` and `binarize`. `subset` keeps the first N."""
    if images:
        ds = FolderImages(images, cfg['height'], cfg['width'], cfg['color_channel'])
    else:
        folder = mnist or (cfg.get('MNIST') or {}).get('path')
        if not folder:
            raise SystemExit('pass --mnist DIR (an MNIST-format folder) or --images DIR (a folder of images)')
        pixels = read_idx_images(folder, 'train')
        if cfg.get('classes'):  # the one-class protocol: train on these classes only, as ours
            pixels = pixels[np.isin(read_idx_labels(folder, 'train'), cfg['classes'])]
        if cfg.get('binarize'):  # a fixed, seeded binarisation (its own draws: not the same pixels as ours)
            rng = np.random.default_rng(cfg['seed'])
            pixels = np.where(rng.random(pixels.shape) < pixels / 255, 255, 0).astype(np.uint8)
        ds = ArrayImages(pixels)
    if subset:
        ds = torch.utils.data.Subset(ds, range(min(subset, len(ds))))
    return ds
