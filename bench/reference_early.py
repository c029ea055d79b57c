"""PyTorch side of bench/early-curves.ts: the reference CAE from PyTorch's own initialisation, on PyTorch's own
random 48k/12k split and shuffled batches (seeded), per-step training loss for the first steps, the first and last
BatchNorm layers' running statistics along the way, and the validation loss (inference mode) at the end.
Optional (Debian's python3-torch); never a dependency. Prints one JSON line.
  /usr/bin/python3 bench/reference_early.py MNIST_DIR SEED STEPS [BATCH] [N_VAL]"""
import gzip, json, sys
import numpy as np
import torch
from torch import nn
from reference_torch import cae


def main():
    root, seed, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    n_val = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    with gzip.open(f'{root}/train-images-idx3-ubyte.gz', 'rb') as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    x = torch.tensor(raw.reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
    model = cae()
    train_set, val_set = torch.utils.data.random_split(torch.utils.data.TensorDataset(x), [48000, 12000])
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch, shuffle=True)
    bns = [m for m in model if isinstance(m, nn.BatchNorm2d)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, bn = [], {}
    model.train()
    step = 0
    while step < steps:
        for (xb,) in loader:
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xb), xb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if step in (1, 10, 50, 100, 300):
                bn[step] = [[float(b.running_mean.mean()), float(b.running_var.mean())] for b in (bns[0], bns[-1])]
            if step == steps:
                break
    model.eval()
    val = torch.stack([val_set[i][0] for i in range(n_val)])
    with torch.no_grad():
        v = sum(nn.functional.mse_loss(model(val[i:i + 200]), val[i:i + 200], reduction='sum').item() for i in range(0, n_val, 200))
    print(json.dumps({'losses': losses, 'bn': bn, 'val': v / (n_val * 784)}))


if __name__ == '__main__':
    main()
