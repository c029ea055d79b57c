"""PyTorch side of bench/parity.ts: loads our exported initial weights into the same architecture (converting
tfjs layouts to PyTorch's), trains on the same batches and prints the losses as one JSON line.
Optional (Debian's python3-torch); never a dependency."""
import gzip, json, sys
import numpy as np
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, conv, bn):
        super().__init__()
        self.conv, self.bn = conv, bn


class DeBlock(nn.Module):
    def __init__(self, deconv, bn):
        super().__init__()
        self.deconv, self.bn = deconv, bn


class CAE(nn.Module):
    def __init__(self, c=1):
        super().__init__()
        self.encoder = nn.ModuleList([Block(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o)) for i, o in [(c, 32), (32, 64), (64, 128), (128, 256)]])
        self.decoder = nn.ModuleList([DeBlock(nn.ConvTranspose2d(i, o, k, stride=s, padding=p), nn.BatchNorm2d(o))
                                      for i, o, k, s, p in [(256, 128, 3, 1, 1), (128, 64, 2, 2, 0), (64, 32, 2, 2, 0)]]
                                     + [DeBlock(nn.ConvTranspose2d(32, c, 3, padding=1), nn.Identity())])
        self.pool = nn.MaxPool2d(1, 2)

    def forward(self, x):
        for i, b in enumerate(self.encoder):
            x = torch.relu(b.bn(b.conv(x)))
            if i >= 2:
                x = self.pool(x)
        for b in self.decoder[:3]:
            x = torch.relu(b.bn(b.deconv(x)))
        return torch.sigmoid(self.decoder[3].deconv(x))


def ae():
    m = nn.Module()
    m.encoder = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0), nn.Linear(256, 32), nn.ReLU())
    m.decoder = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Dropout(0), nn.Linear(256, 784), nn.Sigmoid())
    m.forward = lambda x: m.decoder(m.encoder(x.flatten(1))).view(-1, 1, 28, 28)
    return m


def to_torch(name, arr):
    if arr.ndim == 2:  # Linear: ours [in, out], PyTorch [out, in]
        return arr.T
    if arr.ndim == 4:  # conv [kh, kw, in, out] and deconv [kh, kw, out, in] both map with (3, 2, 0, 1)
        return arr.transpose(3, 2, 0, 1)
    return arr


def main():
    kind, wdir, mnist, steps, batch, every, n_val = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:8])
    torch.set_num_threads(1)
    model = ae() if kind == 'AE' else CAE()
    header = json.load(open(f'{wdir}/weights.json'))
    blob = np.fromfile(f'{wdir}/weights.bin', dtype='<f4')
    state, off = {}, 0
    for rec in header:
        n = int(np.prod(rec['shape']))
        state[rec['name'].replace('.bn.weight', '.bn.weight')] = torch.tensor(np.ascontiguousarray(to_torch(rec['name'], blob[off:off + n].reshape(rec['shape']))))
        off += n
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith('num_batches_tracked')]
    if missing:
        raise SystemExit(f'weights missing for {missing}')
    model.load_state_dict({**own, **{k: v for k, v in state.items()}})

    with gzip.open(f'{mnist}/train-images-idx3-ubyte.gz', 'rb') as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    images = torch.tensor(raw.reshape(-1, 1, 28, 28), dtype=torch.float32) / 255
    train, val = images[:steps * batch], images[steps * batch:steps * batch + n_val]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    out = []
    for s in range(steps):
        model.train()
        xb = train[s * batch:(s + 1) * batch]
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xb), xb)
        loss.backward()
        opt.step()
        row = {'step': s + 1, 'train': loss.item()}
        if (s + 1) % every == 0 or s == steps - 1:
            model.eval()
            with torch.no_grad():
                bs = 1000 if kind == 'AE' else 200
                total = sum(nn.functional.mse_loss(model(val[i:i + bs]), val[i:i + bs], reduction='sum').item() for i in range(0, n_val, bs))
            row['val'] = total / (n_val * 784)
        out.append(row)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
