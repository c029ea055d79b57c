"""PyTorch reference for bench/train.ts: the same models (AE, CAE, and BottleneckCAE, VAE, ConvVAE from
scale/models.py), samples/s for training and inference.

Optional: needs Debian's python3-torch; never a dependency of the package. Prints one JSON line.
Debian's torch does matrix products through OpenBLAS's own threads, so the caller sets OPENBLAS_NUM_THREADS=1
(and runs this once with the machine's OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, once without) and we take the best
of 1 and 2 torch threads, per model.
"""
import json, os, sys, time
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scale'))
import models as torch_models  # noqa: E402  (every model type: scale/models.py)


def ae():
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, 32), nn.ReLU(),
        nn.Linear(32, 256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))


def cae():
    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]
    def up(i, o, k, s, p):
        return [nn.ConvTranspose2d(i, o, k, stride=s, padding=p), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(
        *block(1, 32), *block(32, 64), *block(64, 128), nn.MaxPool2d(1, 2), *block(128, 256), nn.MaxPool2d(1, 2),
        *up(256, 128, 3, 1, 1), *up(128, 64, 2, 2, 0), *up(64, 32, 2, 2, 0), nn.ConvTranspose2d(32, 1, 3, padding=1), nn.Sigmoid())


def measure(fn, samples, warmup, min_seconds, min_reps):
    for _ in range(warmup):
        fn()
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_seconds:
        fn()
        reps += 1
    return reps * samples / (time.perf_counter() - t0)


def bench(kind, batch, infer_batch):
    torch.manual_seed(0)
    reference = kind in ('AE', 'CAE')
    model = (ae() if kind == 'AE' else cae()) if reference else torch_models.make(kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28)
    xi = torch.rand(infer_batch, 1, 28, 28)
    slow = kind == 'CAE'
    forward = model if reference else (lambda v: torch_models.reconstruct(model, v))

    def step():
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), x) if reference else torch_models.loss(model, x)
        loss.backward()
        opt.step()

    model.train()
    train = measure(step, batch, 1, 20 if slow else 5, 2 if slow else 20)
    model.eval()
    with torch.no_grad():
        infer = measure(lambda: forward(xi), infer_batch, 1, 10 if slow else 5, 1 if slow else 10)
    return train, infer


def main():
    kinds, batch, infer_batch = sys.argv[1].split(','), int(sys.argv[2]), int(sys.argv[3])
    out = {}
    for kind in kinds:
        best = None
        for threads in (1, 2):
            torch.set_num_threads(threads)
            train, infer = bench(kind, batch, infer_batch)
            if best is None or train > best['train']:
                best = {'train': train, 'infer': infer, 'threads': threads}
        out[kind] = best
    print(json.dumps(out))


if __name__ == '__main__':
    main()
