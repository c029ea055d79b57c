"""PyTorch side of bench/exchange.ts (optional: Debian's python3-torch; never a dependency). Two modes:

  check KIND FILE.safetensors IMAGES.npy LATENT.npy RECON.npy
      loads our exported state_dict into the PyTorch model (scale/models.py; strict: every name, shape and num_batches_tracked),
      runs it in eval mode on the images and prints the largest differences from our latent and reconstruction.
  train KIND MNIST_DIR STEPS OUT.safetensors
      trains the reference model for STEPS seeded steps (batch 64), saves its state_dict as safetensors and prints
      its test-set MSE in eval mode (what `ae import` + `ae test` must reproduce).

Debian has no Python safetensors package, so the file is read and written here by the format's rules: an 8-byte
little-endian header length, a JSON header, the raw little-endian tensors."""
import gzip, json, os, sys
import numpy as np
import torch
from torch import nn
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scale'))
import models as torch_models  # noqa: E402  (every model type: scale/models.py)
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

def config_of(path):
    """The run's config that `ae export` stores in the file's metadata."""
    raw = open(path, 'rb').read()
    n = int.from_bytes(raw[:8], 'little')
    return json.loads(json.loads(raw[8:8 + n])['__metadata__']['config'])


def model_of(kind, cfg=None):
    """The PyTorch model for `kind`, shaped by the run's config when given (MNIST's defaults otherwise)."""
    return torch_models.make(kind) if cfg is None else torch_models.from_config(cfg)


def forward(kind, model, x):
    return torch_models.reconstruct(model, x)


def encode(kind, model, x):
    z = model.encode(x)
    return z[0] if model.variational else z


def mnist(folder, split):
    with gzip.open(f'{folder}/{split}-images-idx3-ubyte.gz', 'rb') as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return torch.tensor(raw.reshape(-1, 1, 28, 28), dtype=torch.float32) / 255


def check(kind, file, images, latent, recon):
    model = model_of(kind, config_of(file))
    model.load_state_dict(read_safetensors(file), strict=True)
    model.eval()
    x = torch.from_numpy(np.load(images))
    with torch.no_grad():
        z, y = encode(kind, model, x), forward(kind, model, x)
    print(json.dumps({
        'latent_max_abs_diff': float((z - torch.from_numpy(np.load(latent))).abs().max()),
        'reconstruction_max_abs_diff': float((y - torch.from_numpy(np.load(recon))).abs().max()),
        'images': int(x.shape[0]),
    }))


def train(kind, folder, steps, out):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = model_of(kind)
    images, test = mnist(folder, 'train'), mnist(folder, 't10k')
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for s in range(steps):
        xb = images[s * 64:(s + 1) * 64]
        opt.zero_grad()
        torch_models.loss(model, xb).backward()
        opt.step()
    write_safetensors(out, model.state_dict())
    model.eval()
    with torch.no_grad():
        total = sum(nn.functional.mse_loss(forward(kind, model, test[i:i + 500]), test[i:i + 500], reduction='sum').item()
                    for i in range(0, len(test), 500))
    print(json.dumps({'test_mse': total / (len(test) * 784), 'steps': steps}))


if __name__ == '__main__':
    mode, kind = sys.argv[1], sys.argv[2]
    if mode == 'check':
        check(kind, *sys.argv[3:7])
    else:
        train(kind, sys.argv[3], int(sys.argv[4]), sys.argv[5])
