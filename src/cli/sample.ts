/** `ae sample`: a VAE's prior samples and latent plane (src/use/sample.ts). */
import type { Command } from 'commander';
import { deviceBackend, deviceOption, weightsOption } from './options.js';

export function addSampleCommand(program: Command): void {
  program
    .command('sample')
    .description("a VAE's samples: codes drawn from the prior, decoded (samples.png); for a 2-D latent also the decoded latent plane")
    .argument('<run_dir>', 'the run directory of a VAE or ConvVAE, e.g. runs/mnist-vae')
    .option('--count <n>', 'samples to draw', (v) => Number(v), 64)
    .option('--seed <n>', "seed of the draws (default: the run's seed)", (v) => Number(v))
    .option('--grid <n>', 'side of the latent-plane grid (2-D latents)', (v) => Number(v), 20)
    .option('--out <dir>', 'folder for samples.png and latent_grid.png (default <run_dir>)')
    .addOption(weightsOption())
    .option('--force', 'replace the pictures if they exist')
    .addOption(deviceOption())
    .action(
      async (
        runDir: string,
        flags: { count: number; seed?: number; grid: number; out?: string; weights: 'best' | 'last'; force?: boolean; device?: string },
      ) => {
        const backend = await deviceBackend(flags.device);
        const { sample } = await import('../use/sample.js');
        await sample(runDir, { ...flags, gridSize: flags.grid, outDir: flags.out, backend, onMessage: (t) => console.log(t) });
      },
    );
}
