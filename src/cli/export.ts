/** `ae export`: the model as ONNX or as a PyTorch state_dict (src/exchange/). */
import { type Command, Option } from 'commander';
import { deviceBackend, deviceOption, RUN_DIR_HELP, weightsOption } from './options.js';

export function addExportCommand(program: Command): void {
  program
    .command('export')
    .description('write the model as ONNX (autoencoder.onnx, decoder.onnx) or as a PyTorch state_dict (model.safetensors)')
    .argument('<run_dir>', RUN_DIR_HELP)
    .addOption(new Option('--format <format>', 'onnx or safetensors').choices(['onnx', 'safetensors']).makeOptionMandatory())
    .option('--out <dir>', 'output folder (default <run_dir>/export/)')
    .addOption(weightsOption('checkpoint to export'))
    .option('--force', 'replace files that exist')
    .addOption(deviceOption())
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
}
