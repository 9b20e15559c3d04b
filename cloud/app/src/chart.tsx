/**
 * Time-series chart (uPlot: ~50 KB, canvas, fast with 100k points). Series are aligned on the union of
 * their timestamps; a band series (e.g. forecast p10–p90) is drawn as a filled range. Drag to zoom,
 * double-click to reset; the range buttons pick the last hour/day/week of what is shown.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  unit: string;
  points: [number, number | null][];
  /** Lower and upper bound per point (same timestamps as `points`): drawn as a band around the line. */
  band?: { lower: [number, number | null][]; upper: [number, number | null][] };
  color?: string;
}

const PALETTE = ['#1f6fb2', '#d9731a', '#2a9d5b', '#8e44ad', '#c0392b', '#5d6d7e'];
const RANGES: [string, number][] = [
  ['1 h', 3600],
  ['1 d', 86400],
  ['1 w', 7 * 86400],
  ['all', 0],
];

function align(series: Series[]): uPlot.AlignedData {
  const ts = new Set<number>();
  const all = series.flatMap((s) => [s.points, ...(s.band ? [s.band.lower, s.band.upper] : [])]);
  for (const pts of all) for (const [t] of pts) ts.add(t);
  const xs = [...ts].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const col = (pts: [number, number | null][]) => {
    const y: (number | null)[] = new Array(xs.length).fill(null);
    for (const [t, v] of pts) y[index.get(t) as number] = v;
    return y;
  };
  return [xs.map((t) => t / 1000), ...all.map(col)] as uPlot.AlignedData;
}

export function TimeChart(props: {
  title: string;
  series: Series[];
  height?: number;
  /** The time window to show at first (epoch ms), e.g. the range asked for when the data covers less of it. */
  xRange?: [number, number];
}) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>();
  const [width, setWidth] = useState(600);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(240, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const series: uPlot.Series[] = [{}];
    const bands: uPlot.Band[] = [];
    props.series.forEach((s, i) => {
      const color = s.color ?? PALETTE[i % PALETTE.length];
      const at = series.length;
      series.push({ label: `${s.label} (${s.unit})`, stroke: color, width: 1.5, spanGaps: false });
      if (s.band) {
        series.push({ label: `${s.label} lower`, stroke: 'transparent', points: { show: false } });
        series.push({ label: `${s.label} upper`, stroke: 'transparent', points: { show: false } });
        bands.push({ series: [at + 2, at + 1], fill: `${color}33` });
      }
    });
    const units = [...new Set(props.series.map((s) => s.unit))];
    plot.current?.destroy();
    plot.current = new uPlot(
      {
        title: props.title,
        width,
        height: props.height ?? 240,
        series,
        bands,
        axes: [{}, { label: units.join(', ') }],
        cursor: { drag: { x: true, y: false } },
      },
      align(props.series),
      el,
    );
    if (props.xRange)
      plot.current.setScale('x', { min: props.xRange[0] / 1000, max: props.xRange[1] / 1000 });
    return () => {
      plot.current?.destroy();
      plot.current = undefined;
    };
  }, [props.series, props.title, props.height, props.xRange?.[0], props.xRange?.[1], width]);
  const zoom = (seconds: number) => {
    const u = plot.current;
    if (!u) return;
    const xs = u.data[0];
    if (!xs.length) return;
    const max = xs[xs.length - 1];
    u.setScale('x', { min: seconds ? max - seconds : xs[0], max });
  };
  return (
    <figure class="chart">
      <fieldset class="chart-ranges">
        <legend class="sr-only">{props.title}: time range</legend>
        {RANGES.map(([label, s]) => (
          <button type="button" key={label} onClick={() => zoom(s)}>
            {label}
          </button>
        ))}
      </fieldset>
      <div ref={host} class="chart-plot" role="img" aria-label={props.title} />
    </figure>
  );
}
