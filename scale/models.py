"""PyTorch versions of every model type of autoencoders (AE, CAE, BottleneckCAE, VAE, ConvVAE), shaped by a run's
config and with exactly our state_dict names, so `ae export --format safetensors` loads into them with
load_state_dict(strict=True) and what they save `ae import` takes back. Also the training objective and the
reconstruction, as our trainer and `ae score` compute them.

Used by scale/ddp_train.py and scale/score_dask.py, and by the benches (bench/reference_*.py). Optional: needs
PyTorch (Debian's python3-torch here); never a dependency of the package.
"""
import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_CHANNELS = (32, 64)
VARIATIONAL = ('VAE', 'ConvVAE')
BCE_EPSILON = 1e-7  # probabilities clipped inside the logarithms, as our objective does


def _module(**children):
    m = nn.Module()
    for name, child in children.items():
        m.add_module(name, child)
    return m


class AE(nn.Module):
    """The reference's fully connected autoencoder: Linear(D, hidden), ReLU, Dropout, Linear(hidden, latent), ReLU;
    Linear(latent, hidden), ReLU, Dropout, Linear(hidden, D), Sigmoid."""

    def __init__(self, c=1, h=28, w=28, hidden=256, latent=32, dropout=0.0):
        super().__init__()
        d = c * h * w
        self.shape, self.variational = (c, h, w), False
        self.encoder = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, latent), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, d), nn.Sigmoid())

    def encode(self, x):
        return self.encoder(x.flatten(1))

    def decode(self, z):
        return self.decoder(z).view(-1, *self.shape)

    def forward(self, x):
        return self.decode(self.encode(x))


class _Block(nn.Module):
    def __init__(self, conv, bn):
        super().__init__()
        self.conv, self.bn = conv, bn


class _DeBlock(nn.Module):
    def __init__(self, deconv, bn):
        super().__init__()
        self.deconv, self.bn = deconv, bn


class CAE(nn.Module):
    """The reference's convolutional autoencoder: 3x3 convolutions C->32->64->128 (BN, ReLU), subsample by 2
    (MaxPool(1, 2)), 128->256, subsample; decoder 3x3 256->128, 2x2/s2 128->64, 2x2/s2 64->32 (BN, ReLU), 3x3
    32->C, Sigmoid. The code is the 256 x H/4 x W/4 feature map."""

    def __init__(self, c=1):
        super().__init__()
        self.variational = False
        self.encoder = nn.ModuleList([_Block(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o)) for i, o in [(c, 32), (32, 64), (64, 128), (128, 256)]])
        self.decoder = nn.ModuleList([_DeBlock(nn.ConvTranspose2d(i, o, k, stride=s, padding=p), nn.BatchNorm2d(o))
                                      for i, o, k, s, p in [(256, 128, 3, 1, 1), (128, 64, 2, 2, 0), (64, 32, 2, 2, 0)]]
                                     + [_DeBlock(nn.ConvTranspose2d(32, c, 3, padding=1), nn.Identity())])
        self.pool = nn.MaxPool2d(1, 2)

    def encode(self, x):
        for i, b in enumerate(self.encoder):
            x = torch.relu(b.bn(b.conv(x)))
            if i >= 2:
                x = self.pool(x)
        return x

    def decode(self, z):
        x = z
        for b in self.decoder[:3]:
            x = torch.relu(b.bn(b.deconv(x)))
        return torch.sigmoid(self.decoder[3].deconv(x))

    def forward(self, x):
        return self.decode(self.encode(x))


class BottleneckConv(nn.Module):
    """BottleneckCAE (variational=False) or ConvVAE (True): one stride-2 3x3 convolution with BN and ReLU per entry
    of `channels` (our `encoder_channels`), dense to the code (or mean and log-variance), and the mirrored decoder:
    one 2x2 stride-2 transposed convolution per stage back through the channels in reverse (the last keeps the first
    stage's), then a 3x3 transposed convolution to the image's channels."""

    def __init__(self, c=1, h=28, w=28, latent=32, variational=False, channels=DEFAULT_CHANNELS):
        super().__init__()
        k = len(channels)
        self.stages, self.variational = k, variational
        self.map = (channels[-1], h // 2 ** k, w // 2 ** k)
        feats = self.map[0] * self.map[1] * self.map[2]
        heads = {'mu': nn.Linear(feats, latent), 'logvar': nn.Linear(feats, latent)} if variational else {'fc': nn.Linear(feats, latent)}
        encoder, inputs = {}, c
        for i, out in enumerate(channels):
            encoder[str(i)] = _module(conv=nn.Conv2d(inputs, out, 3, stride=2, padding=1), bn=nn.BatchNorm2d(out))
            inputs = out
        self.encoder = _module(**encoder, **heads)
        decoder = {'fc': nn.Linear(latent, feats)}
        for i in range(k):
            src, dst = channels[k - 1 - i], channels[max(0, k - 2 - i)]
            decoder[str(i)] = _module(deconv=nn.ConvTranspose2d(src, dst, 2, stride=2), bn=nn.BatchNorm2d(dst))
        decoder[str(k)] = _module(deconv=nn.ConvTranspose2d(channels[0], c, 3, padding=1))
        self.decoder = _module(**decoder)

    def features(self, x):
        for i in range(self.stages):
            b = self.encoder._modules[str(i)]
            x = torch.relu(b.bn(b.conv(x)))
        return x.flatten(1)

    def encode(self, x):
        f = self.features(x)
        if self.variational:
            return self.encoder.mu(f), self.encoder.logvar(f)
        return self.encoder.fc(f)

    def decode(self, z):
        x = torch.relu(self.decoder.fc(z)).view(-1, *self.map)
        for i in range(self.stages):
            b = self.decoder._modules[str(i)]
            x = torch.relu(b.bn(b.deconv(x)))
        return torch.sigmoid(self.decoder._modules[str(self.stages)].deconv(x))


class VAE(nn.Module):
    """The fully connected VAE: Linear(D, hidden), ReLU, mean / log-variance heads; Linear(latent, hidden), ReLU,
    Linear(hidden, D), Sigmoid."""

    def __init__(self, c=1, h=28, w=28, hidden=256, latent=32):
        super().__init__()
        d = c * h * w
        self.shape, self.variational = (c, h, w), True
        self.encoder = _module(**{'0': nn.Linear(d, hidden), 'mu': nn.Linear(hidden, latent), 'logvar': nn.Linear(hidden, latent)})
        self.decoder = _module(**{'0': nn.Linear(latent, hidden), '2': nn.Linear(hidden, d)})

    def encode(self, x):
        h = torch.relu(self.encoder._modules['0'](x.flatten(1)))
        return self.encoder.mu(h), self.encoder.logvar(h)

    def decode(self, z):
        h = torch.relu(self.decoder._modules['0'](z))
        return torch.sigmoid(self.decoder._modules['2'](h)).view(-1, *self.shape)


def make(kind, latent=32, hidden=256, c=1, h=28, w=28, channels=DEFAULT_CHANNELS, dropout=0.0):
    """The model of type `kind` with MNIST's shapes unless told otherwise."""
    if kind == 'AE':
        return AE(c, h, w, hidden=hidden, latent=latent, dropout=dropout)
    if kind == 'CAE':
        return CAE(c)
    if kind == 'BottleneckCAE':
        return BottleneckConv(c, h, w, latent=latent, channels=channels)
    if kind == 'ConvVAE':
        return BottleneckConv(c, h, w, latent=latent, variational=True, channels=channels)
    if kind == 'VAE':
        return VAE(c, h, w, hidden=hidden, latent=latent)
    raise ValueError(f'unknown model_type {kind!r}: AE, CAE, BottleneckCAE, VAE or ConvVAE')


def from_config(cfg):
    """The model a run's resolved config (as `ae export` stores it in the file's metadata) builds."""
    return make(cfg['model_type'], latent=cfg['latent_dim'], hidden=cfg['hidden_dim'], c=cfg['color_channel'], h=cfg['height'],
                w=cfg['width'], channels=tuple(cfg.get('encoder_channels') or DEFAULT_CHANNELS), dropout=cfg.get('dropout', 0.0))


def reconstruction_loss_of(cfg):
    """`reconstruction_loss`, its null default resolved as ours: bce for the VAEs, mse for the others."""
    return cfg.get('reconstruction_loss') or ('bce' if cfg['model_type'] in VARIATIONAL else 'mse')


def _bce(recon, x):
    p = recon.clamp(BCE_EPSILON, 1 - BCE_EPSILON)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p))


def loss(model, x, target=None, recon_loss=None, kl_weight=1.0):
    """Our objective (src/models/objective.ts): autoencoders, the reconstruction loss averaged over every pixel;
    VAEs, per image the reconstruction term summed over pixels (mse as half the squared error) + kl_weight * KL,
    averaged over the batch. `target` is the clean input when `x` is noised (denoising)."""
    target = x if target is None else target
    recon_loss = recon_loss or ('bce' if model.variational else 'mse')
    if not model.variational:
        out = model.decode(model.encode(x))
        return F.mse_loss(out, target) if recon_loss == 'mse' else _bce(out, target).mean()
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    out = model.decode(z)
    per_pixel = 0.5 * (out - target) ** 2 if recon_loss == 'mse' else _bce(out, target)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    return (per_pixel.sum(dim=(1, 2, 3)) + kl_weight * kl).mean()


def reconstruct(model, x):
    """The reconstruction `ae test` and `ae score` use (a VAE decodes its mean code)."""
    z = model.encode(x)
    return model.decode(z[0] if model.variational else z)


def codes(model, x):
    """The latent codes `ae encode` writes, one row per image: the code (a VAE's mean); the CAE's feature map
    flattened in (height, width, channel) order, as our models flatten it."""
    z = model.encode(x)
    z = z[0] if model.variational else z
    return z.permute(0, 2, 3, 1).flatten(1) if z.dim() == 4 else z
