/** `ae score`: anomaly scores of a split or of image files (src/use/score.ts), with progress. */
import { type Command, InvalidArgumentError } from 'commander';
import { addUseOptions, deviceBackend, type UseFlags } from './options.js';
import { withProgress } from './progress.js';

function percentileArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number in (0, 100)');
  return n;
}

export function addScoreCommand(program: Command): void {
  addUseOptions(
    program
      .command('score')
      .description('anomaly scores (reconstruction error) of a split or of image files, flagged above a percentile of the training scores'),
  )
    .option('--percentile <p>', "the threshold: this percentile of the training images' scores, in (0, 100)", percentileArg, 95)
    .option('--out <dir>', 'output folder for scores.csv and anomalies.png (default <run_dir>/scores_<input>/)')
    .option('--count <n>', 'images in anomalies.png', (v) => Number(v), 10)
    .action(async (runDir: string, flags: UseFlags & { percentile: number; out?: string; count: number }) => {
      const backend = await deviceBackend(flags.device);
      const { score } = await import('../use/score.js');
      const r = await withProgress('scoring', (hooks) => score(runDir, { ...flags, outDir: flags.out, backend, ...hooks }));
      console.log('outputs:');
      for (const f of r.files) console.log(`  ${f}`);
    });
}
