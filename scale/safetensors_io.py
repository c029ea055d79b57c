"""safetensors files read and written by the format's rules (an 8-byte little-endian header length, a JSON header,
the raw little-endian tensors), with the run's config in `__metadata__.config` as `ae export` writes it and
`ae import` reads it. Written here because Debian has no Python safetensors package; where `safetensors` is
installed, its `safetensors.torch.load_file` reads the same files."""
import json
import os

import numpy as np
import torch

DTYPES = {'F32': np.float32, 'I64': np.int64}
NAMES = {np.dtype(np.float32): 'F32', np.dtype(np.int64): 'I64'}


def _split(raw, name):
    """The header (parsed) and the data bytes of a safetensors file's bytes."""
    n = int.from_bytes(raw[:8], 'little')
    if n > min(len(raw) - 8, 100 * 2 ** 20):
        raise ValueError(f'{name}: a safetensors header of {n} bytes (a damaged or foreign file)')
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def read_safetensors(path):
    """The state_dict in the file: name -> tensor (F32 and I64 as our exports hold)."""
    with open(path, 'rb') as f:
        return state_of(f.read(), path)


def state_of(raw, name='the file'):
    """The state_dict in the bytes of a safetensors file."""
    header, data = _split(raw, name)
    state = {}
    for key, t in header.items():
        if key == '__metadata__':
            continue
        if t['dtype'] not in DTYPES:
            raise ValueError(f'{name}: tensor {key} has dtype {t["dtype"]}; F32 and I64 are read here')
        begin, end = t['data_offsets']
        state[key] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=DTYPES[t['dtype']]).reshape(t['shape']).copy())
    return state


def config_in(raw, name='the file'):
    """The config in the bytes of a safetensors file's metadata (None when it carries none)."""
    meta = _split(raw, name)[0].get('__metadata__') or {}
    return json.loads(meta['config']) if 'config' in meta else None


def config_of(path):
    """The run's resolved config that `ae export` stores in the file's metadata (None when it carries none)."""
    with open(path, 'rb') as f:
        return config_in(f.read(), path)


def write_safetensors(path, state, config=None):
    """Writes `state` (name -> tensor) with `config` in the metadata, to a temporary file renamed into place."""
    header, blobs, offset = {}, [], 0
    if config is not None:
        header['__metadata__'] = {'format': 'pt', 'config': json.dumps(config)}
    for name, t in state.items():
        a = t.detach().cpu().contiguous().numpy()
        header[name] = {'dtype': NAMES[a.dtype], 'shape': list(a.shape), 'data_offsets': [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    head = json.dumps(header).encode()
    head += b' ' * ((8 - (8 + len(head)) % 8) % 8)
    tmp = f'{path}.tmp'
    with open(tmp, 'wb') as f:
        f.write(len(head).to_bytes(8, 'little') + head + b''.join(blobs))
    os.replace(tmp, path)
