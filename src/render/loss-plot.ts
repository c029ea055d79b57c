/** loss.png: training and validation loss per epoch, log-scaled when the losses span more than a factor of 10. */
import { CLASS_COLOURS, font, newCanvas, savePng } from './canvas.js';
import type { HistoryRow } from '../checkpoint/checkpoint.js';

function niceTicks(lo: number, hi: number, count: number): number[] {
  const step = 10 ** Math.floor(Math.log10((hi - lo) / count || 1));
  const mult = [1, 2, 5, 10].find((m) => (hi - lo) / (m * step) <= count) ?? 10;
  const s = mult * step;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / s) * s; v <= hi + 1e-12; v += s) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

export async function drawLossPlot(history: HistoryRow[], title: string, file: string): Promise<void> {
  const W = 900,
    H = 560,
    left = 100,
    right = 30,
    top = 60,
    bottom = 70;
  const { canvas, ctx } = newCanvas(W, H);
  const series = [
    { name: 'train', values: history.map((r) => r.train_loss), colour: CLASS_COLOURS[0]! },
    { name: 'validation', values: history.map((r) => r.val_loss), colour: CLASS_COLOURS[1]! },
  ];
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const lo = Math.min(...all),
    hi = Math.max(...all);
  const log = hi / lo > 10;
  const f = (v: number) => (log ? Math.log10(v) : v);
  const yLo = log ? f(lo) : Math.max(0, lo - 0.05 * (hi - lo)),
    yHi = f(hi) + (log ? 0.05 : 0.05 * (hi - lo || hi));
  const x = (epoch: number) => left + (history.length > 1 ? (epoch - 1) / (history.length - 1) : 0.5) * (W - left - right);
  const y = (v: number) => top + (1 - (f(v) - yLo) / (yHi - yLo || 1)) * (H - top - bottom);
  ctx.fillStyle = '#222';
  ctx.font = font(20, true);
  ctx.fillText(title, left, 34);
  // Axes and ticks.
  ctx.strokeStyle = '#444';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(left, top);
  ctx.lineTo(left, H - bottom);
  ctx.lineTo(W - right, H - bottom);
  ctx.stroke();
  ctx.font = font(14);
  ctx.textAlign = 'right';
  const yTicks = log ? niceTicks(yLo, yHi, 5).map((t) => 10 ** t) : niceTicks(yLo, yHi, 6);
  for (const t of yTicks) {
    const py = y(t);
    if (py < top - 1 || py > H - bottom + 1) continue;
    ctx.strokeStyle = '#e5e5e5';
    ctx.beginPath();
    ctx.moveTo(left, py);
    ctx.lineTo(W - right, py);
    ctx.stroke();
    ctx.fillStyle = '#333';
    ctx.fillText(t.toPrecision(3), left - 8, py + 5);
  }
  ctx.textAlign = 'center';
  const every = Math.max(1, Math.ceil(history.length / 12));
  history.forEach((r, i) => {
    if (i % every === 0 || i === history.length - 1) ctx.fillText(String(r.epoch), x(r.epoch), H - bottom + 22);
  });
  ctx.font = font(16);
  ctx.fillText('epoch', (left + W - right) / 2, H - 20);
  ctx.save();
  ctx.translate(24, (top + H - bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(`MSE loss${log ? ' (log scale)' : ''}`, 0, 0);
  ctx.restore();
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    s.values.forEach((v, i) => {
      const px = x(history[i]!.epoch),
        py = y(v);
      if (i === 0) ctx.moveTo(px, py);
      else ctx.lineTo(px, py);
    });
    ctx.stroke();
    s.values.forEach((v, i) => {
      ctx.beginPath();
      ctx.arc(x(history[i]!.epoch), y(v), 4, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
  // Legend.
  ctx.font = font(15);
  ctx.textAlign = 'left';
  series.forEach((s, i) => {
    const ly = top + 10 + i * 24;
    ctx.fillStyle = s.colour;
    ctx.fillRect(W - right - 150, ly - 10, 24, 4);
    ctx.fillStyle = '#222';
    ctx.fillText(s.name, W - right - 118, ly - 3);
  });
  await savePng(canvas, file);
}
