/**
 * `gridlayer powerflow | head`: once the reader has gone, further output has nowhere to go. That is
 * the reader's choice, not an error: end quietly with exit 0 instead of an unhandled EPIPE stack.
 */
export function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}
