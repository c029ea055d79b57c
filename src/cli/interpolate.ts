/** `ae interpolate`: decoded points between two images' codes (src/use/interpolate.ts). */
import type { Command } from 'commander';
import { deviceBackend, deviceOption, RUN_DIR_HELP, splitOption, weightsOption } from './options.js';

export function addInterpolateCommand(program: Command): void {
  program
    .command('interpolate')
    .description("decode points on the line between two images' latent codes and draw them as a strip, the inputs at its ends")
    .argument('<run_dir>', RUN_DIR_HELP)
    .requiredOption('--from <image>', 'an image index in --split, or an image file')
    .requiredOption('--to <image>', 'an image index in --split, or an image file')
    .option('--steps <n>', 'decoded points, both ends included', (v) => Number(v), 8)
    .addOption(splitOption('where image indices point'))
    .option('--out <file>', 'output picture (default <run_dir>/interpolation_<from>_<to>.png)')
    .addOption(weightsOption())
    .option('--force', 'replace the output picture if it exists')
    .addOption(deviceOption())
    .action(
      async (
        runDir: string,
        flags: {
          from: string;
          to: string;
          steps: number;
          split: 'test' | 'validation' | 'train';
          out?: string;
          weights: 'best' | 'last';
          force?: boolean;
          device?: string;
        },
      ) => {
        const backend = await deviceBackend(flags.device);
        const { interpolate } = await import('../use/interpolate.js');
        await interpolate(runDir, { ...flags, backend, onMessage: (t) => console.log(t) });
      },
    );
}
