/** The decoding pool's worker: reads files and decodes the PNGs that take the fast path (./png.ts). */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { decodePngInto, type FastTarget } from './png.js';

export interface DecodeJob {
  id: number;
  files: string[];
  target: FastTarget;
}

/** Per file: 1 decoded into its slot of `pixels`, 0 left for the general decoder. */
export interface DecodeDone {
  id: number;
  pixels: Uint8Array;
  decoded: Uint8Array;
}

parentPort?.on('message', (job: DecodeJob) => {
  const size = job.target.height * job.target.width * job.target.channels;
  const pixels = new Uint8Array(job.files.length * size);
  const decoded = new Uint8Array(job.files.length);
  job.files.forEach((file, i) => {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      return; // the general decoder reports why
    }
    if (decodePngInto(bytes, job.target, pixels.subarray(i * size, (i + 1) * size))) decoded[i] = 1;
  });
  const done: DecodeDone = { id: job.id, pixels, decoded };
  parentPort!.postMessage(done, [pixels.buffer]);
});
