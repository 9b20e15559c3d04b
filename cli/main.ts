import { Command } from 'commander';
import { endQuietlyOnClosedPipe } from './closed-pipe.ts';
import { registerCommands } from './commands/index.ts';

endQuietlyOnClosedPipe();

const program = new Command();
program
  .name('gridlayer')
  .description('gridlayer: edge gateway firmware and cloud DERMS for distribution system operators')
  .showHelpAfterError()
  .version('0.1.0');

await registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Expected user errors (bad flags, unreachable device) print one clear line, not a stack trace.
  console.error(`gridlayer: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
