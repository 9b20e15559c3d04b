import type { Command } from 'commander';

/**
 * Every `gridlayer` subcommand registers itself here, one module per command,
 * so the CLI stays one program whatever part of the system a command fronts.
 */
type Register = (program: Command) => void;

const registrations: Register[] = [];

export function registerCommands(program: Command): void {
  for (const register of registrations) register(program);
}
