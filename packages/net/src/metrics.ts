import {
  Counter,
  type CounterConfiguration,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  type Registry,
} from 'prom-client'

/**
 * Creates a component's metrics in one registry (the process's, or a fresh one in tests), so that no metric
 * repeats where it is registered. Names follow `swarmgrad_<component>_<what>_<unit>`; histograms list their
 * buckets; labels come only from small enums.
 */
export function metricCreator(registry: Registry) {
  const registers = [registry]
  return {
    counter: <L extends string>(config: Omit<CounterConfiguration<L>, 'registers'>) =>
      new Counter<L>({ ...config, registers }),
    gauge: <L extends string>(config: Omit<GaugeConfiguration<L>, 'registers'>) =>
      new Gauge<L>({ ...config, registers }),
    histogram: <L extends string>(
      config: Omit<HistogramConfiguration<L>, 'registers'> & { readonly buckets: number[] },
    ) => new Histogram<L>({ ...config, registers }),
  }
}
