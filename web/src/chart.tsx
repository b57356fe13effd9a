// The per-minute live chart (uPlot: a canvas chart small enough for the 300 KB budget).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface MinutePoint {
  readonly minute: string;
  readonly received: number;
  readonly acked: number;
  readonly delivered: number;
  readonly failed: number;
}

const SERIES = [
  { label: 'received', stroke: '#3b82f6' },
  { label: 'acked', stroke: '#8b5cf6', dash: [6, 4] },
  { label: 'delivered', stroke: '#16a34a' },
  { label: 'failed', stroke: '#dc2626' },
] as const;

function toData(points: readonly MinutePoint[]): uPlot.AlignedData {
  return [points.map((p) => Date.parse(p.minute) / 1000), points.map((p) => p.received), points.map((p) => p.acked), points.map((p) => p.delivered), points.map((p) => p.failed)];
}

export function MinuteChart({ points, label }: { readonly points: readonly MinutePoint[]; readonly label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);

  useEffect(() => {
    const el = host.current;
    if (el === null) return undefined;
    const axisColor = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#888';
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 160,
      series: [{}, ...SERIES.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, points: { show: false }, ...('dash' in s ? { dash: [...s.dash] } : {}) }))],
      axes: [
        { stroke: axisColor, grid: { stroke: 'rgba(128,128,128,0.15)' } },
        { stroke: axisColor, grid: { stroke: 'rgba(128,128,128,0.15)' }, size: 40 },
      ],
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      // The legend is ours (coloured keys below the chart); uPlot's would repeat it.
      legend: { show: false },
    };
    plot.current = new uPlot(opts, toData(points), el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(280, el.clientWidth), height: 160 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = undefined;
    };
    // The plot is made once; data updates go through setData below.
  }, []);

  useEffect(() => {
    plot.current?.setData(toData(points));
  }, [points]);

  const total = points.reduce((n, p) => n + p.received, 0);
  return <div class="chart" ref={host} role="img" aria-label={`${label}: messages per minute over the last ${points.length} minutes; ${total} received`} />;
}
