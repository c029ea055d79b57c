"""PyTorch reference for the quality table: the reference AE (or CAE) on full MNIST, validation MSE per epoch.

Optional (Debian's python3-torch); never a dependency. Usage:
  /usr/bin/python3 bench/reference_quality.py MNIST_DIR [epochs] [denoising_std] [seed] [dropout] [AE|CAE]
Prints one JSON line per epoch.
"""
import gzip, json, sys
import numpy as np
import torch
from torch import nn
from reference_torch import cae


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    root = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    noise_std = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    torch.manual_seed(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    torch.set_num_threads(1)
    p = float(sys.argv[5]) if len(sys.argv) > 5 else 0.1
    x = torch.tensor(read_idx(f'{root}/train-images-idx3-ubyte.gz'), dtype=torch.float32).unsqueeze(1) / 255
    train_set, val_set = torch.utils.data.random_split(torch.utils.data.TensorDataset(x), [48000, 12000])
    train = torch.utils.data.DataLoader(train_set, batch_size=128, shuffle=True)
    val = torch.utils.data.DataLoader(val_set, batch_size=1000)
    kind = sys.argv[6] if len(sys.argv) > 6 else 'AE'
    if kind == 'CAE':
        torch.set_num_threads(2)
    model = cae() if kind == 'CAE' else nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(p), nn.Linear(256, 32), nn.ReLU(),
        nn.Linear(32, 256), nn.ReLU(), nn.Dropout(p), nn.Linear(256, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        model.train()
        train_sum = 0.0
        for (xb,) in train:
            inp = xb + noise_std * torch.randn_like(xb) if noise_std > 0 else xb
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(inp), xb)
            loss.backward()
            opt.step()
            train_sum += loss.item() * len(xb)
        model.eval()
        total = 0.0
        with torch.no_grad():
            for (xb,) in val:
                inp = xb + noise_std * torch.randn_like(xb) if noise_std > 0 else xb
                total += nn.functional.mse_loss(model(inp), xb, reduction='sum').item() / 784
        print(json.dumps({'epoch': epoch + 1, 'train_loss': train_sum / 48000, 'val_loss': total / 12000}), flush=True)


if __name__ == '__main__':
    main()
