import { nodeState, plainLine, ttyBlock, type WatchedCluster, type WatchedNode } from './progress.js';

export interface Display {
  show(nodes: WatchedNode[], clusters: WatchedCluster[]): void;
  line(text: string): void;
}

/** A terminal gets a block redrawn in place with progress bars; a pipe gets a line per change. */
export function createDisplay(out: NodeJS.WriteStream, startedAt: number): Display {
  if (out.isTTY) {
    let drawn = 0;
    return {
      show(nodes, clusters) {
        const lines = ttyBlock(nodes, clusters, Date.now());
        out.write((drawn ? `\x1b[${drawn}A` : '') + lines.map((l) => `\x1b[2K${l}\n`).join(''));
        drawn = lines.length;
      },
      line: (text) => void out.write(text + '\n'),
    };
  }
  const last = new Map<string, string>();
  return {
    show(nodes, clusters) {
      const now = Date.now();
      for (const n of nodes) {
        const state = nodeState(n);
        if (last.get(`n${n.id}`) !== state) out.write(plainLine(n, now, startedAt) + '\n');
        last.set(`n${n.id}`, state);
      }
      for (const c of clusters.filter((c) => nodes.some((n) => n.cluster === c.name))) {
        if (last.get(`c${c.name}`) !== c.state)
          out.write(`cluster ${c.name}: ${c.state}${c.last_error ? ` (${c.last_error})` : ''}\n`);
        last.set(`c${c.name}`, c.state);
      }
    },
    line: (text) => void out.write(text + '\n'),
  };
}
