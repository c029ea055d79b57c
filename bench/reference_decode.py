"""The number to beat for decoding: torchvision's ImageFolder path (PIL open, convert('RGB'), resize with bilinear
filtering, to a uint8 array) on the same files, with a pool of worker processes as a DataLoader's workers.

usage: reference_decode.py LIST_FILE WORKERS HEIGHT WIDTH   (LIST_FILE: one path per line)
prints JSON: images, seconds, images_per_sec (best of two passes)."""
import json
import sys
import time
from multiprocessing import Pool

import numpy as np
from PIL import Image

HEIGHT = WIDTH = 64


def load(path):
    with open(path, 'rb') as f:
        img = Image.open(f)
        img = img.convert('RGB').resize((WIDTH, HEIGHT), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8).nbytes


def main():
    global HEIGHT, WIDTH
    list_file, workers, HEIGHT, WIDTH = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    files = [line.rstrip('\n') for line in open(list_file) if line.strip()]
    best = None
    for _ in range(2):
        t0 = time.time()
        with Pool(workers) as pool:
            total = sum(pool.imap_unordered(load, files, chunksize=64))
        seconds = time.time() - t0
        assert total == len(files) * HEIGHT * WIDTH * 3
        best = seconds if best is None else min(best, seconds)
    print(json.dumps({'images': len(files), 'seconds': best, 'images_per_sec': len(files) / best}))


if __name__ == '__main__':
    main()
