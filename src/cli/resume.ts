/** `ae resume`: continue a run from its last checkpoint. */
import type { Command } from 'commander';
import { deviceBackend, deviceOption, intArg, RUN_DIR_HELP } from './options.js';
import { withSignals } from './training-signals.js';

export async function resumeCommand(runDir: string, flags: { epochs?: number; device?: string }): Promise<void> {
  const backend = await deviceBackend(flags.device);
  const { resume } = await import('../train/trainer.js');
  await withSignals((opts) => resume(runDir, { ...opts, epochs: flags.epochs, backend }));
  console.log(`run directory: ${runDir}`);
}

export function addResumeCommand(program: Command): void {
  program
    .command('resume')
    .description('continue an interrupted run from its weights/last.ckpt')
    .argument('<run_dir>', RUN_DIR_HELP)
    .option('--epochs <n>', 'train up to this many epochs in total (to extend a finished run)', intArg)
    .addOption(deviceOption())
    .action((runDir: string, flags: { epochs?: number; device?: string }) => resumeCommand(runDir, flags));
}
