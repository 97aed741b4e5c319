/**
 * The net graph (SDK): snapshot intervals (green, red when later than 1.5
 * snapshot intervals), prediction corrections (yellow) and a line of stats,
 * drawn on the game canvas in the bottom right corner. Game-independent.
 */

export class NetGraph {
  constructor({ capacity = 120 } = {}) {
    this.capacity = capacity;
    this.samples = []; // [{t, rtt, interval, correction, bytes}]
    this.visible = false;
  }

  /** One snapshot's sample: {t, interval (ms since the previous), correction, rtt, bytes}. */
  record(sample) {
    this.samples.push(sample);
    if (this.samples.length > this.capacity) this.samples.shift();
  }

  toggle() {
    this.visible = !this.visible;
    return this.visible;
  }

  /**
   * Draw into ctx (CSS pixels) on a canvas of size {w, h}.
   * stats: {snapshotRate (Hz expected), rate (snapshots last second), bytesPerSecond, rtt, pending}.
   */
  draw(ctx, size, stats) {
    const w = Math.min(360, size.w - 20);
    const h = 90;
    const x0 = size.w - w - 10;
    const y0 = size.h - h - 10;
    ctx.fillStyle = "rgba(0,0,0,0.7)";
    ctx.fillRect(x0, y0, w, h);
    const bar = w / this.capacity;
    const late = 1.5 * (1000 / (stats.snapshotRate || 20));
    this.samples.forEach((s, i) => {
      const ih = Math.min(h - 4, (s.interval / 200) * (h - 4));
      ctx.fillStyle = s.interval > late ? "#ef5350" : "#66bb6a";
      ctx.fillRect(x0 + i * bar, y0 + h - ih, Math.max(1, bar - 1), ih);
      if (s.correction > 0.01) {
        ctx.fillStyle = "#ffca28";
        ctx.fillRect(x0 + i * bar, y0 + 2, Math.max(1, bar - 1), Math.min(20, s.correction * 4));
      }
    });
    ctx.fillStyle = "#ffffff";
    ctx.font = "12px ui-monospace, monospace";
    ctx.textAlign = "left";
    const kbps = ((stats.bytesPerSecond || 0) / 1024).toFixed(1);
    ctx.fillText(`snap ${stats.rate}/s  ${kbps} KiB/s  rtt ${fmtMs(stats.rtt)}  pending ${stats.pending}`, x0 + 6, y0 + 34);
  }
}

export function fmtMs(v) {
  return v === null || v === undefined ? "–" : `${Math.round(v)} ms`;
}
