"""PyTorch side of bench/parity.ts: loads our exported initial weights into the same architecture (converting
tfjs layouts to PyTorch's), trains on the same batches and prints the losses as one JSON line.
Optional (Debian's python3-torch); never a dependency."""
import gzip, json, os, sys
import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scale'))
from models import AE, CAE  # noqa: E402  (the architectures, one place: scale/models.py)


def ae():
    return AE()


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
