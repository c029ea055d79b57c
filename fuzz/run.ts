/**
 * npm run fuzz -- [--target NAME|all] [--runs N] [--seed S] [--only RUN] [--time-limit MS] [--hang-limit MS] [--mnist DIR]
 *
 * Mutates real files of every kind the tool reads from outside (fuzz/targets.ts) and checks each outcome
 * (fuzz/campaign.ts). Prints per target the inputs tried, how many loaded and how many were refused cleanly (with
 * the commonest refusals), and every finding, whose input is saved under fuzz/findings/ to become a regression
 * test. Exits 1 when anything was found. Seeded: the same seed and run number give the same input anywhere
 * (`--only RUN` replays one).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/index.js';
import { runIsolated, saveFinding } from './campaign.js';
import { buildTargets, makeSeedRun } from './targets.js';

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    only: { type: 'string' },
    'time-limit': { type: 'string', default: '5000' },
    'hang-limit': { type: 'string', default: '30000' },
    mnist: { type: 'string', default: process.env.AE_TEST_MNIST ?? path.resolve('..', 'shared', 'data', 'mnist') },
  },
});

await initBackend('wasm');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ae-fuzz-'));
const findingsDir = path.resolve('fuzz', 'findings');
try {
  const seedRun = await makeSeedRun(path.join(work, 'seed'), values.mnist);
  const targets = await buildTargets(seedRun);
  const chosen = values.target === 'all' ? targets : targets.filter((t) => t.name === values.target);
  if (chosen.length === 0) {
    console.error(`no fuzz target ${values.target}; targets: ${targets.map((t) => t.name).join(', ')}`);
    process.exit(2);
  }
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Node ${process.version}; seed ${values.seed}`);
  let found = 0;
  const rows: string[] = [];
  for (const target of chosen) {
    console.log(`${target.name}: ${target.description}`);
    const result = await runIsolated(target, {
      seedRun,
      hangMs: Number(values['hang-limit']),
      runs: Number(values.runs),
      seed: Number(values.seed),
      workDir: work,
      timeLimitMs: Number(values['time-limit']),
      ...(values.only !== undefined ? { only: Number(values.only) } : {}),
      onProgress: (done, r) => process.stdout.write(`\r  ${done} inputs, ${r.findings.length} findings`),
    });
    process.stdout.write('\r');
    console.log(
      `  ${result.runs} inputs in ${result.seconds.toFixed(1)} s: ${result.loaded} loaded, ${result.refused} refused cleanly, ${result.findings.length} findings; slowest ${result.slowestMs.toFixed(0)} ms`,
    );
    for (const [why, count] of result.refusals.slice(0, 6)) console.log(`    ${String(count).padStart(7)}  ${why}`);
    for (const f of result.findings.slice(0, 20)) {
      console.log(
        `  FINDING ${f.kind} (--seed ${f.seed} --only ${f.run}): ${f.message.split('\n')[0]}\n    input: ${saveFinding(f, findingsDir)}`,
      );
    }
    found += result.findings.length;
    rows.push(
      `| ${target.name} | ${result.runs} | ${result.loaded} | ${result.refused} | ${result.findings.length} | ${result.slowestMs.toFixed(0)} |`,
    );
  }
  console.log(
    '\n| target | inputs | loaded | refused (UserError naming the file) | findings | slowest (ms) |\n| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of rows) console.log(r);
  process.exitCode = found > 0 ? 1 : 0;
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
