#!/usr/bin/env python3
"""Score (and encode) a folder of images too large for one process on a Dask cluster, as `ae score` does.

    ae export runs/mnist-ae --format safetensors
    ae score runs/mnist-ae --input some/images          # once: stores the run's training scores (the threshold)
    python3 scale/score_dask.py runs/mnist-ae/export/model.safetensors big/folder --out scores/ \
        --run runs/mnist-ae --percentile 95 --workers 2 --codes

The folder is listed (sorted, sub-folders as classes, as our loader does) and cut into partitions; each worker
builds the model once (PyTorch, from the file's bytes, which the client sends to every worker) and scores its
partitions: an image's score is the mean squared error of its reconstruction (a VAE decodes its mean code), flagged
above the threshold: `--threshold T`, or the `--percentile` of the training scores `ae score` stored in `--run`
(anomaly_train_scores.f32), interpolated as NumPy's percentile and ours. Per partition it writes
`scores-NNNNN.csv` (index,label,class,path,score,flagged: the columns of `ae score`'s scores.csv) and with `--codes`
`codes-NNNNN.npy` (float32 rows, as `ae encode --format npy`) beside `codes-NNNNN.rows.csv`; the client then writes
`scores.csv` (every partition's rows, most anomalous first, as `ae view` reads it) and `summary.json`.

`--workers N` starts a LocalCluster of N worker processes on this machine; `--scheduler ADDRESS` uses a running
cluster instead (its workers must see the images' paths and the output folder; this script's helper modules are
uploaded to them). Optional: needs PyTorch, Dask and distributed; never a dependency of the package.
"""
import argparse
import csv
import hashlib
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from data import list_images  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('weights', help='a .safetensors file from `ae export RUN --format safetensors` (it carries the config)')
    p.add_argument('images', help='a folder of PNG/JPEG/WebP images (sub-folders are classes)')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--workers', type=int, default=2, help='local worker processes (default 2; ignored with --scheduler)')
    p.add_argument('--scheduler', default=None, help='address of a running Dask scheduler, e.g. tcp://10.0.0.1:8786')
    p.add_argument('--partition-size', type=int, default=2000, help='images per partition (default 2000)')
    p.add_argument('--threshold', type=float, default=None, help='flag scores above this')
    p.add_argument('--run', default=None, help='the run whose stored training scores give the threshold (with --percentile)')
    p.add_argument('--percentile', type=float, default=95.0, help='percentile of the training scores (default 95)')
    p.add_argument('--codes', action='store_true', help='also write the latent codes per partition')
    p.add_argument('--batch', type=int, default=256, help='images per forward pass on a worker')
    a = p.parse_args(argv)
    if (a.threshold is None) == (a.run is None):
        p.error('pass either --threshold T or --run RUN_DIR (whose training scores `ae score` stored)')
    if not 0 < a.percentile < 100:
        p.error('--percentile must be in (0, 100)')
    return a


def threshold_of(run_dir, percentile):
    """The percentile of the run's training scores, as `ae score` computes it (linear between ranks)."""
    file = os.path.join(run_dir, 'anomaly_train_scores.f32')
    if not os.path.exists(file):
        raise SystemExit(f'{file} is missing: run `ae score {run_dir}` once (it stores the training scores), or pass --threshold')
    scores = np.sort(np.fromfile(file, dtype='<f4')).astype(np.float64)
    return float(np.percentile(scores, percentile)), len(scores)


def listing(folder):
    """[(index, label, class, path)] of the folder's images; labels by sub-folder (sorted) where there are any."""
    files = list_images(folder)
    classes = sorted({os.path.relpath(f, folder).split(os.sep)[0] for f in files if os.sep in os.path.relpath(f, folder)})
    rows = []
    for i, f in enumerate(files):
        rel = os.path.relpath(f, folder)
        cls = rel.split(os.sep)[0] if os.sep in rel else None
        rows.append((i, classes.index(cls) if cls is not None else None, cls, f))
    return rows


_models = {}


def _model(weights, digest):
    """The model of these weights, built once per worker process (the cache outlives the task); and whether this
    call built it."""
    built = digest not in _models
    if built:
        import torch
        import models
        from safetensors_io import config_in, state_of
        torch.set_num_threads(1)
        cfg = config_in(weights)
        model = models.from_config(cfg)
        model.load_state_dict(state_of(weights), strict=True)
        model.eval()
        _models[digest] = (model, cfg)
    return _models[digest] + (built,)


def _field(v):
    return '' if v is None else v


def score_partition(part, rows, weights, digest, threshold, out, with_codes, batch):
    """Scores one partition's images and writes its files; returns (images, flagged, seconds, model built here).
    Runs in a worker process: the helper modules are imported from here (uploaded to a remote cluster's workers)."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import torch
    import models
    from data import load_image
    t0 = time.perf_counter()
    model, cfg, built = _model(weights, digest)
    shape = (cfg['height'], cfg['width'], cfg['color_channel'])
    scores, codes = [], []
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            x = torch.stack([load_image(r[3], *shape) for r in rows[i:i + batch]])
            recon = models.reconstruct(model, x)
            scores.append(((recon - x) ** 2).mean(dim=(1, 2, 3)).numpy())
            if with_codes:
                codes.append(models.codes(model, x).numpy())
    scores = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    name = os.path.join(out, f'scores-{part:05d}.csv')
    with open(name + '.tmp', 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(['index', 'label', 'class', 'path', 'score', 'flagged'])
        for (index, label, cls, path), s in zip(rows, scores):
            w.writerow([index, _field(label), _field(cls), path, repr(float(s)), 1 if s > threshold else 0])
    os.replace(name + '.tmp', name)
    if with_codes:
        base = os.path.join(out, f'codes-{part:05d}')
        np.save(base + '.tmp.npy', np.concatenate(codes).astype('<f4'))
        os.replace(base + '.tmp.npy', base + '.npy')
        with open(base + '.rows.csv', 'w', newline='') as f:
            w = csv.writer(f, lineterminator='\n')
            w.writerow(['index', 'label', 'class', 'path'])
            w.writerows([[i, _field(l), _field(c), p] for i, l, c, p in rows])
    return len(rows), int((scores > threshold).sum()), time.perf_counter() - t0, built


def main(argv=None):
    args = parse(argv)
    started = time.perf_counter()
    from dask.distributed import Client, LocalCluster
    rows = listing(args.images)
    if not rows:
        raise SystemExit(f'no PNG/JPEG/WebP images under {args.images}')
    if args.run:
        threshold, training = threshold_of(args.run, args.percentile)
    else:
        threshold, training = args.threshold, None
    os.makedirs(args.out, exist_ok=True)
    weights = open(args.weights, 'rb').read()
    digest = hashlib.sha256(weights).hexdigest()
    cluster = None if args.scheduler else LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(args.scheduler or cluster)
    try:
        if args.scheduler:
            for module in ('models.py', 'data.py', 'safetensors_io.py'):
                client.upload_file(os.path.join(HERE, module))
        workers = len(client.scheduler_info()['workers'])
        shared = client.scatter(weights, broadcast=True)  # sent once to every worker, not once per task
        parts = [rows[i:i + args.partition_size] for i in range(0, len(rows), args.partition_size)]
        t0 = time.perf_counter()
        futures = [client.submit(score_partition, k, part, shared, digest, threshold, args.out, args.codes, args.batch, pure=False)
                   for k, part in enumerate(parts)]
        done = client.gather(futures)
        seconds = time.perf_counter() - t0
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    # One scores.csv for `ae view` and people: every partition's rows, most anomalous first (ties by index).
    merged = []
    for k in range(len(parts)):
        with open(os.path.join(args.out, f'scores-{k:05d}.csv'), newline='') as f:
            merged += list(csv.reader(f))[1:]
    merged.sort(key=lambda r: (-float(r[4]), int(r[0])))
    with open(os.path.join(args.out, 'scores.csv.tmp'), 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(['index', 'label', 'class', 'path', 'score', 'flagged'])
        w.writerows(merged)
    os.replace(os.path.join(args.out, 'scores.csv.tmp'), os.path.join(args.out, 'scores.csv'))
    flagged = sum(d[1] for d in done)
    summary = {'images': len(rows), 'flagged': flagged, 'threshold': threshold,
               'percentile': args.percentile if args.run else None, 'training_images': training}
    with open(os.path.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    # `seconds`: from the first task submitted to the last result (model builds, decoding, scoring, writing);
    # `wall_seconds`: the whole command, the cluster's start and the merge included.
    print(json.dumps({**summary, 'workers': workers, 'partitions': len(parts), 'model_builds': sum(d[3] for d in done), 'seconds': seconds,
                      'images_per_second': len(rows) / seconds, 'wall_seconds': time.perf_counter() - started}), flush=True)


if __name__ == '__main__':
    main()
