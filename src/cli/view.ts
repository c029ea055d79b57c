/** `ae view`: starts the local viewer and keeps it until Ctrl-C. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';

function portArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port number from 1 to 65535');
  return n;
}

/** Opens the URL in the desktop's browser, if there is one; failing quietly is fine (the URL is printed). */
function openBrowser(url: string): void {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    spawn(opener, [url], { stdio: 'ignore', detached: true })
      .on('error', () => console.log(`(could not start ${opener}; open the address yourself)`))
      .unref();
  } catch {
    console.log(`(could not start ${opener}; open the address yourself)`);
  }
}

export function addViewCommand(program: Command): void {
  program
    .command('view')
    .description('a local web page of the project: every run, live while it trains, and what ae test made')
    .argument('[project_dir]', 'the folder that holds the runs', 'runs')
    .option('--port <n>', 'port (default: a free one)', portArg)
    .option('--host <host>', 'address to listen on (default 127.0.0.1: this machine only)', '127.0.0.1')
    .option('--open', 'open the page in the default browser')
    .action(async (project: string, flags: { port?: number; host: string; open?: boolean }) => {
      const { startViewer } = await import('../view/server.js');
      if (!['127.0.0.1', 'localhost', '::1'].includes(flags.host)) {
        console.log(`warning: listening on ${flags.host}: other machines that reach it can read your runs (the server is read-only)`);
      }
      // A helper beside training, not its rival: at a lower CPU priority the page stays answered while a run on the
      // same cores keeps its speed (bench:view-load measures both). Where lowering is not allowed, it runs as it is.
      try {
        os.setPriority(Math.min(19, os.getPriority() + 10));
      } catch {
        // not permitted here
      }
      const viewer = await startViewer({ project, host: flags.host, port: flags.port });
      if (!existsSync(project)) console.log(`${project} does not exist yet: the page lists the runs started there as they appear`);
      console.log(`ae view: ${viewer.url} (Ctrl-C stops it)`);
      if (flags.open) openBrowser(viewer.url);
      await new Promise<void>((resolve) => {
        const stop = () => {
          void viewer.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      console.log('ae view stopped');
    });
}
