"""PyTorch versions of the model types beyond the reference (BottleneckCAE, VAE, ConvVAE), with exactly our
state_dict names, so `ae export --format safetensors` loads into them with load_state_dict. Used by the benches
(reference_torch.py for speed); optional (Debian's python3-torch), never a dependency of the package."""
import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_CHANNELS = (32, 64)


def _module(**children):
    m = nn.Module()
    for name, child in children.items():
        m.add_module(name, child)
    return m


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


def make(kind, latent=32, hidden=256, c=1, h=28, w=28, channels=DEFAULT_CHANNELS):
    if kind == 'BottleneckCAE':
        return BottleneckConv(c, h, w, latent=latent, channels=channels)
    if kind == 'ConvVAE':
        return BottleneckConv(c, h, w, latent=latent, variational=True, channels=channels)
    if kind == 'VAE':
        return VAE(c, h, w, hidden=hidden, latent=latent)
    raise ValueError(kind)


def loss(model, x):
    """Our objective: MSE over pixels for the autoencoder; for VAEs BCE summed per image + KL, batch mean."""
    if not model.variational:
        return F.mse_loss(model.decode(model.encode(x)), x)
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    recon = F.binary_cross_entropy(model.decode(z), x, reduction='none').sum(dim=(1, 2, 3))
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    return (recon + kl).mean()


def reconstruct(model, x):
    z = model.encode(x)
    return model.decode(z[0] if model.variational else z)
