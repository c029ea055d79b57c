/** `ae encode`: the latent codes of a split or of image files (src/use/encode.ts), with progress. */
import { type Command, Option } from 'commander';
import { addUseOptions, deviceBackend, type UseFlags } from './options.js';
import { withProgress } from './progress.js';

export function addEncodeCommand(program: Command): void {
  addUseOptions(
    program
      .command('encode')
      .description('write the latent codes of a split or of image files (npy, csv or bin), row for row with labels and paths'),
  )
    .option('--out <file>', 'output file (default <run_dir>/codes_<input>.<format>)')
    .addOption(
      new Option('--format <format>', 'npy (NumPy), csv, or bin (float32 + JSON sidecar)').choices(['npy', 'csv', 'bin']).default('npy'),
    )
    .option('--projector <dir>', 'also write an Embedding Projector folder (codes, metadata, sprite, a t-SNE map as a bookmark)')
    .option(
      '--onto [map]',
      "also place the images on a saved t-SNE map (a map_<method>.json of `ae test`, or a run folder; default this run's), " +
        'writing <out>_on_<method>.csv and .png',
    )
    .action(
      async (
        runDir: string,
        flags: UseFlags & { out?: string; format: 'npy' | 'csv' | 'bin'; projector?: string; onto?: string | true },
      ) => {
        const backend = await deviceBackend(flags.device);
        const { encode } = await import('../use/encode.js');
        const r = await withProgress('encoding', (hooks) => encode(runDir, { ...flags, backend, ...hooks }));
        console.log(`${r.count} codes of ${r.dim} numbers${r.failed.length ? ` (${r.failed.length} files skipped)` : ''}:`);
        for (const f of r.files) console.log(`  ${f}`);
      },
    );
}
