/** The `ae` program: every command, one module each. */
import { Command } from 'commander';
import { MODEL_KINDS } from '../models/specs.js';
import { addEncodeCommand } from './encode.js';
import { setVerbose } from './errors.js';
import { addExportCommand } from './export.js';
import { addImportCommand } from './import.js';
import { addInterpolateCommand } from './interpolate.js';
import { addResumeCommand } from './resume.js';
import { addSampleCommand } from './sample.js';
import { addScoreCommand } from './score.js';
import { addTestCommand } from './test.js';
import { addTrainCommand } from './train.js';
import { addViewCommand } from './view.js';

export function buildProgram(): Command {
  const program = new Command('ae')
    .description(
      `Train, resume and evaluate autoencoders (${MODEL_KINDS.join(', ')}, denoising) on MNIST, Fashion-MNIST or your own image folders; see README.md`,
    )
    .option('--verbose', 'show stack traces for errors')
    .showHelpAfterError()
    .hook('preAction', (cmd) => setVerbose(Boolean(cmd.opts().verbose)));
  addTrainCommand(program);
  addResumeCommand(program);
  addTestCommand(program);
  addEncodeCommand(program);
  addScoreCommand(program);
  addInterpolateCommand(program);
  addSampleCommand(program);
  addExportCommand(program);
  addImportCommand(program);
  addViewCommand(program);
  return program;
}
