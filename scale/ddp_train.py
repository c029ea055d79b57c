#!/usr/bin/env python3
"""Train a run's model further under PyTorch DistributedDataParallel, from our safetensors export and back.

    ae export runs/mnist-ae --format safetensors              # runs/mnist-ae/export/model.safetensors
    python3 scale/ddp_train.py runs/mnist-ae/export/model.safetensors --procs 2 --steps 500 --out ae-ddp.safetensors
    ae import ae-ddp.safetensors --name mnist-ae-ddp && ae test runs/mnist-ae-ddp

The model (every type: scale/models.py) is built from the config the file carries, loaded strictly, and trained
with our objective (MSE, or for VAEs BCE/MSE summed per image + beta * KL; denoising noise when the config asks),
Adam with the config's `lr` (PyTorch's defaults otherwise, as ours), `--batch-size` images per step in all (each
process takes batch/procs: DDP averages the processes' gradients, so a step is the same step one process takes
with the whole batch), a DistributedSampler seeded by the config's `seed`. The result, with the config (its
`name` set to --name), is written for `ae import`.

Launch: `--procs N` starts N processes with torch.multiprocessing.spawn and a gloo (CPU) or nccl (GPU) process
group on this machine; under `torchrun` (RANK/WORLD_SIZE/MASTER_ADDR set) the processes it started are used as
they are, which is how several machines run it. Debian's torch 1.13 on Python 3.11 fails inside torchrun's elastic
agent, hence the spawn path. Optional: needs PyTorch; never a dependency of the package.

Prints one JSON line: processes, steps, samples/s (all processes), seconds, the last loss, and the test MSE when an
MNIST-format test file is at hand.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time


def _limit_blas_threads():
    """Each process's BLAS (OpenBLAS under Debian's torch) to its share of the cores, set before torch loads it:
    its threads spin while they wait, so N processes x all cores of threads crawl or seem to hang. A value the user
    set wins. The processes mp.spawn starts inherit it."""
    if __name__ != '__main__':
        return
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument('--procs', type=int, default=2)
    pre.add_argument('--threads', type=int, default=None)
    known, _ = pre.parse_known_args()
    world = int(os.environ.get('LOCAL_WORLD_SIZE', os.environ.get('WORLD_SIZE', known.procs)))
    threads = known.threads or max(1, (os.cpu_count() or 1) // max(1, world))
    for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ.setdefault(var, str(threads))


_limit_blas_threads()

import torch  # noqa: E402  (after the thread limits)
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from data import read_idx_images, training_images  # noqa: E402
from safetensors_io import config_of, read_safetensors, write_safetensors  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('weights', help='a .safetensors file from `ae export RUN --format safetensors` (it carries the config)')
    p.add_argument('--out', required=True, help='the .safetensors file to write (for `ae import`)')
    p.add_argument('--procs', type=int, default=2, help='processes on this machine (ignored under torchrun); default 2')
    p.add_argument('--steps', type=int, default=None, help='optimiser steps (default: one pass over the images)')
    p.add_argument('--batch-size', type=int, default=None, help="images per step over all processes (default: the config's batch_size)")
    p.add_argument('--lr', type=float, default=None, help="Adam's learning rate (default: the config's lr)")
    p.add_argument('--mnist', default=None, help="an MNIST-format folder to train on (default: the config's MNIST.path)")
    p.add_argument('--images', default=None, help='a folder of images to train on instead (resized to the config\'s size)')
    p.add_argument('--subset', type=int, default=None, help='train on the first N images only')
    p.add_argument('--threads', type=int, default=None, help='torch threads per process (default: cores / processes)')
    p.add_argument('--backend', choices=['gloo', 'nccl'], default=None, help='default: nccl with a GPU per process, else gloo')
    p.add_argument('--name', default=None, help="the run name written in the file's config (default: <name>-ddp)")
    p.add_argument('--float64', action='store_true',
                   help='train in double precision (slower): processes then agree with one process to ~1e-12, which shows DDP takes the same steps')
    p.add_argument('--seed', type=int, default=None, help="seed of the sampler and the noise (default: the config's seed)")
    a = p.parse_args(argv)
    if a.procs < 1:
        p.error('--procs must be at least 1')
    return a


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_mse(model, folder, device, limit=None):
    """Mean squared error per pixel over the MNIST-format test file, in eval mode (what `ae test` reports as MSE)."""
    x = torch.from_numpy(read_idx_images(folder, 't10k')[:limit].copy()).float().div(255).unsqueeze(1)
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            xb = x[i:i + 500].to(device)
            total += torch.nn.functional.mse_loss(models.reconstruct(model, xb), xb, reduction='sum').item()
    return total / x.numel()


class _Objective(torch.nn.Module):
    """The objective as the module's forward, so DDP (which synchronises gradients of what its forward computed)
    wraps the whole loss computation, the VAEs' two heads included."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, target, recon_loss, kl_weight):
        return models.loss(self.model, x, target, recon_loss, kl_weight)


def worker(rank, world, args, port):
    """One process of the group: the same model, its share of every batch, gradients averaged by DDP."""
    if port is not None:
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    backend = args.backend or ('nccl' if torch.cuda.is_available() else 'gloo')
    local = int(os.environ.get('LOCAL_RANK', rank))  # this machine's process number (torchrun sets it)
    device = torch.device(f'cuda:{local % torch.cuda.device_count()}' if backend == 'nccl' else 'cpu')
    here = int(os.environ.get('LOCAL_WORLD_SIZE', world))  # processes on this machine
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // here))
    if world > 1:
        dist.init_process_group(backend, rank=rank, world_size=world)
    cfg = config_of(args.weights)
    if cfg is None:
        raise SystemExit(f'{args.weights} carries no config: write it with `ae export RUN --format safetensors`')
    seed = cfg['seed'] if args.seed is None else args.seed
    torch.manual_seed(seed + rank)  # noise, dropout and reparameterisation draws differ per process, as they should
    model = models.from_config(cfg).to(device)
    model.load_state_dict(read_safetensors(args.weights), strict=True)
    dtype = torch.float64 if args.float64 else torch.float32
    model.to(dtype)
    model.train()
    objective = _Objective(model)
    net = torch.nn.parallel.DistributedDataParallel(objective, device_ids=[device.index] if device.type == 'cuda' else None) if world > 1 else objective
    batch = args.batch_size or cfg['batch_size']
    if batch % world:
        raise SystemExit(f'--batch-size {batch} does not divide into {world} processes')
    data = training_images(cfg, args.mnist, args.images, args.subset)
    # One seeded permutation per epoch, dealt round-robin to the processes: with batch/world each, the processes'
    # step-s batches together are the whole batch s of one process with `batch`.
    sampler = torch.utils.data.distributed.DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    loader = torch.utils.data.DataLoader(data, batch_size=batch // world, sampler=sampler, drop_last=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr or cfg['lr'], betas=(0.9, 0.999), eps=1e-8)
    recon_loss = models.reconstruction_loss_of(cfg)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise SystemExit(f'{len(data)} images make no batch of {batch // world} per process: pass a smaller --batch-size')
    steps = args.steps or steps_per_epoch
    warmup = cfg.get('kl_warmup_epochs') or 0
    beta = cfg.get('beta') if cfg.get('beta') is not None else 1.0
    step, epoch, last, t0, timed_from = 0, 0, torch.tensor(float('nan')), None, 1
    while step < steps:
        sampler.set_epoch(epoch)
        for xb in loader:
            if step == timed_from:
                t0 = time.perf_counter()  # the first step (allocation, DDP's first bucket set-up) is not timed
            xb = xb.to(device, dtype)
            noisy = xb + torch.randn_like(xb) * cfg['noise_std'] + cfg['noise_mean'] if cfg.get('denoising') else xb
            kl_weight = beta * min(1.0, (step + 1) / (warmup * steps_per_epoch)) if warmup else beta
            opt.zero_grad()
            loss = net(noisy, xb, recon_loss, kl_weight)
            loss.backward()
            opt.step()
            last = loss.detach()
            step += 1
            if step >= steps:
                break
        epoch += 1
    seconds = time.perf_counter() - t0 if t0 is not None else float('nan')
    if world > 1 and step > 0:
        dist.all_reduce(last)  # the whole batch's loss: the mean of the processes' (equal-sized) shares
        last /= world
    last = float(last)
    if rank == 0:
        out_cfg = dict(cfg, name=args.name or f"{cfg['name']}-ddp")
        model.float()
        write_safetensors(args.out, model.state_dict(), out_cfg)
        folder = args.mnist or (cfg.get('MNIST') or {}).get('path')
        have_test = not args.images and folder and os.path.exists(folder)
        print(json.dumps({
            'processes': world, 'backend': backend, 'steps': step, 'batch_size': batch, 'threads_per_process': torch.get_num_threads(),
            'samples_per_second': (step - timed_from) * batch / seconds if step > timed_from else None, 'seconds': seconds,
            'last_loss': last, 'test_mse': test_mse(model, folder, device) if have_test else None, 'out': args.out,
        }), flush=True)
    if world > 1:
        _leave_group()


# Seconds each process waits for the group's teardown once its work is written.
TEARDOWN_TIMEOUT_S = 60


def _leave_group():
    """Barrier, then destroy the process group, bounded in time. With gloo, destroy_process_group() now and then
    never returns (pytorch/pytorch#75097; seen here twice in some 300 runs, both with more processes than cores,
    after all the work was done): everything is written before this point, so a process that waits longer warns
    and goes on."""
    def leave():
        dist.barrier()
        dist.destroy_process_group()

    teardown = threading.Thread(target=leave, daemon=True)
    teardown.start()
    teardown.join(TEARDOWN_TIMEOUT_S)
    if teardown.is_alive():
        print(f'warning: the process group did not shut down within {TEARDOWN_TIMEOUT_S} s (all work was written); exiting',
              file=sys.stderr, flush=True)


def _spawned(rank, world, args, port):
    """A process started by mp.spawn: the worker, then an immediate exit. Python's own shutdown of a process that
    held a gloo group can hang as well (its threads), and mp.spawn would wait on it forever."""
    worker(rank, world, args, port)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv=None):
    args = parse(argv)
    if 'RANK' in os.environ and 'WORLD_SIZE' in os.environ:  # started by torchrun (or another launcher)
        worker(int(os.environ['RANK']), int(os.environ['WORLD_SIZE']), args, None)
    elif args.procs == 1:
        worker(0, 1, args, None)
    else:
        mp.spawn(_spawned, args=(args.procs, args, free_port()), nprocs=args.procs, join=True)


if __name__ == '__main__':
    main()
