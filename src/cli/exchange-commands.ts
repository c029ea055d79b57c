/** `ae export` and `ae import`: thin layers over src/exchange/. */
import { type Command, Option } from 'commander';
import type { BackendName } from '../backend/index.js';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';

export function addExchangeCommands(
  program: Command,
  deviceBackend: (device: string | undefined) => Promise<BackendName | undefined>,
): void {
  program
    .command('export')
    .description('write the model as ONNX (autoencoder.onnx, decoder.onnx) or as a PyTorch state_dict (model.safetensors)')
    .argument('<run_dir>', 'the run directory, e.g. runs/mnist-ae')
    .addOption(new Option('--format <format>', 'onnx or safetensors').choices(['onnx', 'safetensors']).makeOptionMandatory())
    .option('--out <dir>', 'output folder (default <run_dir>/export/)')
    .addOption(new Option('--weights <which>', 'checkpoint to export').choices(['best', 'last']).default('best'))
    .option('--force', 'replace files that exist')
    .addOption(new Option('-d, --device <device>', 'cpu, or gpu (WebGPU; needs a GPU adapter)').choices(['cpu', 'gpu']))
    .action(
      async (
        runDir: string,
        flags: { format: 'onnx' | 'safetensors'; out?: string; weights: 'best' | 'last'; force?: boolean; device?: string },
      ) => {
        const backend = await deviceBackend(flags.device);
        const { exportOnnx, exportSafetensors } = await import('../exchange/index.js');
        const run = flags.format === 'onnx' ? exportOnnx : exportSafetensors;
        const r = await run(runDir, { ...flags, backend });
        console.log(`${flags.format} export of ${runDir} (${flags.weights} checkpoint):`);
        for (const f of r.files) console.log(`  ${f}`);
      },
    );

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
          throw new UserError(`${file} carries no config`, 'pass --config with the model_type, image size and channels of its model');
        config = resolveConfig(mergeConfig(carried as Record<string, unknown>, overrides), `${file} (metadata)`);
      }
      const r = await importSafetensors(file, config, { onMessage: (t) => console.log(t) });
      console.log(`run directory: ${r.runDir}; evaluate it with: ae test ${r.runDir}`);
    });
}
