/** homeport_dhcp_* metrics; registered only when a registry is given, reused if already there. */
import { Counter, Histogram, type Registry } from 'prom-client';

export interface DhcpMetrics {
  received: Counter<'type'>;
  replies: Counter<'type'>;
  malformed: Counter<string>;
  ignored: Counter<'reason'>;
  errors: Counter<string>;
  handleSeconds: Histogram<string>;
}

export function createDhcpMetrics(registry?: Registry): DhcpMetrics {
  const registers = registry ? [registry] : [];
  const existing = <T>(name: string): T | undefined => registry?.getSingleMetric(name) as T | undefined;
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
    existing<Counter<L>>(name) ?? new Counter({ name, help, labelNames, registers });
  return {
    received: counter('homeport_dhcp_requests_total', 'DHCP requests received, by message type', ['type']),
    replies: counter('homeport_dhcp_replies_total', 'DHCP replies sent, by message type', ['type']),
    malformed: counter('homeport_dhcp_malformed_total', 'Packets that did not parse as DHCP'),
    ignored: counter('homeport_dhcp_ignored_total', 'Requests left unanswered, by reason', ['reason']),
    errors: counter('homeport_dhcp_errors_total', 'Requests whose handling failed'),
    handleSeconds:
      existing<Histogram<string>>('homeport_dhcp_handle_seconds') ??
      new Histogram({
        name: 'homeport_dhcp_handle_seconds',
        help: 'Time from receiving a request to sending its reply (includes the lease write)',
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
        registers,
      }),
  };
}
