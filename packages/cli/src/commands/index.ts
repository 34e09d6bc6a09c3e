import type { Command } from '../command';
import { benchCommand } from './bench';
import { evalCommand } from './eval';
import { finetuneCommand } from './finetune';
import { generateCommand } from './generate';
import { infoCommand } from './info';
import { mergeCommand } from './merge';
import { pullCommand } from './pull';
import { pushCommand } from './push';
import { quantizeCommand } from './quantize';
import { workflowCommand } from './workflow';

/** Every `slimlm` command, in the order `slimlm --help` lists them. */
export const COMMANDS: readonly Command[] = [
  workflowCommand,
  infoCommand,
  generateCommand,
  quantizeCommand,
  evalCommand,
  benchCommand,
  finetuneCommand,
  mergeCommand,
  pullCommand,
  pushCommand,
];
