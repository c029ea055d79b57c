/**
 * What the benchmarks say about the CPU they ran on. Machines of this project's kind all call themselves "AMD EPYC"
 * but come in more than one generation, and the figures differ by that much (a Zen 4 core splits each 512-bit
 * operation into two 256-bit halves and has a 32 KB L1, a Zen 5 core does not and has 48 KB), so every benchmark
 * names the generation, its vector width and its first-level data cache next to its figures.
 */
import fs from 'node:fs';
import os from 'node:os';

function cpuinfoField(text: string, field: string): string | undefined {
  return new RegExp(`^${field}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
}

/** AMD's generation from the x86 family (and AVX-512, which tells Zen 3 from Zen 4 within family 25). */
function amdGeneration(family: number, avx512: boolean): string | undefined {
  if (family === 23) return 'Zen/Zen 2';
  if (family === 25) return avx512 ? 'Zen 4' : 'Zen 3';
  if (family === 26) return 'Zen 5';
  return undefined;
}

/** e.g. "AMD EPYC, Zen 4 (family 25 model 17), AVX-512, L1d 32K": the model name alone where /proc/cpuinfo is missing. */
export function cpuDescription(): string {
  const name = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  let info: string;
  try {
    info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return name;
  }
  const family = Number(cpuinfoField(info, 'cpu family'));
  const model = Number(cpuinfoField(info, 'model'));
  const flags = new Set((cpuinfoField(info, 'flags') ?? '').split(/\s+/));
  const avx512 = flags.has('avx512f');
  const vector = avx512 ? 'AVX-512' : flags.has('avx2') ? 'AVX2' : flags.has('asimd') ? 'NEON' : 'no AVX2';
  const generation = cpuinfoField(info, 'vendor_id') === 'AuthenticAMD' ? amdGeneration(family, avx512) : undefined;
  const where = Number.isFinite(family) && Number.isFinite(model) ? `family ${family} model ${model}` : '';
  let l1d = '';
  try {
    l1d = `, L1d ${fs.readFileSync('/sys/devices/system/cpu/cpu0/cache/index0/size', 'utf8').trim()}`;
  } catch {
    // no sysfs cache description (containers without /sys): leave it out
  }
  const id = generation ? `${generation} (${where})` : where;
  return `${name}${id ? `, ${id}` : ''}, ${vector}${l1d}`;
}
