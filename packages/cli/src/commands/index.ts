import type { Command } from '../command';
import { generateCommand } from './generate';
import { infoCommand } from './info';

/** Every `slimlm` command, in the order `slimlm --help` lists them. */
export const COMMANDS: readonly Command[] = [infoCommand, generateCommand];
