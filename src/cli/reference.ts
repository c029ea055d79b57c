/** The reference project's interface: ae -m train|test, -c 1 to continue the run named by -n, -d cpu|gpu. */
import path from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { setVerbose } from './errors.js';
import { addTestOptions, addTrainOptions } from './options.js';
import { resumeCommand } from './resume.js';
import { type TestFlags, testCommand } from './test.js';
import { type TrainFlags, trainCommand } from './train.js';

export function buildReferenceProgram(): Command {
  return addTestOptions(addTrainOptions(new Command('ae')))
    .description('reference-style flags: ae -m train|test --config FILE [-n NAME] [-c 1] [-d cpu]')
    .addOption(new Option('-m, --mode <mode>', 'train or test').choices(['train', 'test']).default('train'))
    .addOption(new Option('-c, --cont <flag>', '1 continues the run named by -n').choices(['0', '1']).default('0'))
    .option('--verbose', 'show stack traces for errors')
    .showHelpAfterError()
    .action(async (flags: TrainFlags & TestFlags & { mode: string; cont: string; verbose?: boolean }) => {
      setVerbose(Boolean(flags.verbose));
      if (flags.mode === 'test') {
        const config = loadConfig(flags.config, { name: flags.name, project: flags.project });
        return testCommand(path.join(config.project, config.name), flags);
      }
      if (flags.cont === '1') {
        const config = loadConfig(flags.config, { name: flags.name, project: flags.project });
        return resumeCommand(path.join(config.project, config.name), { epochs: flags.epochs, device: flags.device });
      }
      return trainCommand(flags);
    });
}

/** Whether argv uses the reference's flags (starts with an option other than help or version). */
export function isReferenceStyle(args: string[]): boolean {
  return args.length > 0 && args[0]!.startsWith('-') && !['-h', '--help', '-V', '--version'].includes(args[0]!);
}
