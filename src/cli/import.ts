/** `ae import`: a run from a PyTorch state_dict in safetensors (src/exchange/). */
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';

export function addImportCommand(program: Command): void {
  program
    .command('import')
    .description('make a run from a PyTorch state_dict saved with safetensors (the reference AE or CAE), for ae test, encode, score')
    .argument('<file>', 'a .safetensors file, e.g. from safetensors.torch.save_file(model.state_dict(), path)')
    .option('--config <file>', "the config that builds the file's model (optional for files ae export wrote: they carry theirs)")
    .option('--name <name>', 'run name (the run directory is <project>/<name>/)')
    .option('--project <dir>', 'folder that holds the runs')
    .action(async (file: string, flags: { config?: string; name?: string; project?: string }) => {
      const { loadConfig, mergeConfig, resolveConfig } = await import('../config/load.js');
      const { configInSafetensors, importSafetensors } = await import('../exchange/index.js');
      const overrides = { name: flags.name, project: flags.project };
      let config: Config;
      if (flags.config) config = loadConfig(flags.config, overrides);
      else {
        const carried = configInSafetensors(file);
        if (!carried)
          throw new UserError(`${file} carries no config`, 'pass `config` with the model_type, image size and channels of its model', {
            option: 'config',
          });
        config = resolveConfig(mergeConfig(carried as Record<string, unknown>, overrides), `${file} (metadata)`);
      }
      const r = await importSafetensors(file, config, { onMessage: (t) => console.log(t) });
      console.log(`run directory: ${r.runDir}; evaluate it with: ae test ${r.runDir}`);
    });
}
