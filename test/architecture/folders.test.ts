import { expect } from 'chai';
import {
  folderCycles,
  folderGraph,
  folderOf,
  shortestCycle,
  importEdges,
  type ImportEdge,
} from '../../scripts/architecture/folder-graph.js';

/**
 * The folder rules of server/ (README, Architecture): no folder imports
 * another that imports it back, the shared kernel and the store sit below
 * every domain, only the entry points know the composition root, and the
 * wire codecs import nothing.
 */
describe('architecture: which folder of server/ may import which', () => {
  const edges = importEdges();
  const graph = folderGraph(edges);
  const importsOf = (folder: string) => [...(graph.get(folder)?.keys() ?? [])].sort();
  const describeEdges = (list: ImportEdge[]) => list.map((e) => `${e.from} → ${e.to}`);

  it('reads the real tree (a parser that finds nothing would pass every rule)', () => {
    expect(edges.length).to.be.greaterThan(300);
    const folders = new Set(edges.flatMap((e) => [folderOf(e.from), folderOf(e.to)]));
    expect([...folders]).to.include.members(['kernel', 'store', 'nodes', 'boot', 'dhcp', 'tftp', 'app']);
  });

  it('has no dependency cycle between folders', () => {
    // Each tangle is named by its folders and one shortest loop through it, with the imports that make the loop.
    const cycles = folderCycles(graph).map((component) => {
      const loop = shortestCycle(graph, component[0]!)!;
      const links = loop.flatMap((from, i) => describeEdges(graph.get(from)!.get(loop[(i + 1) % loop.length]!)!));
      return `${component.join(', ')}; e.g. ${[...loop, loop[0]].join(' → ')}:\n    ${links.join('\n    ')}`;
    });
    expect(cycles, `folders that import each other:\n  ${cycles.join('\n  ')}`).to.deep.equal([]);
  });

  it('keeps the shared kernel free of every other folder', () => {
    expect(importsOf('kernel')).to.deep.equal([]);
  });

  it('lets the store import only the kernel, util, log and the migrations', () => {
    const allowed = new Set(['kernel', 'util', 'log', 'db']);
    expect(importsOf('store').filter((folder) => !allowed.has(folder))).to.deep.equal([]);
  });

  it('keeps SQL in the store: outside it only the composition root and the CLI/doctor entry points name knex', () => {
    const outside = edges.filter((e) => folderOf(e.from) !== 'store' && e.to.endsWith('store/db.ts'));
    const users = [...new Set(outside.map((e) => folderOf(e.from)))].sort();
    expect(users.filter((folder) => !['app', 'cli', 'doctor'].includes(folder))).to.deep.equal([]);
  });

  it('lets only the entry points (cli, doctor) import the composition root', () => {
    const importers = [...graph.entries()].filter(([, targets]) => targets.has('app')).map(([folder]) => folder);
    expect(importers.filter((folder) => !['cli', 'doctor'].includes(folder))).to.deep.equal([]);
  });

  it('keeps the DHCP and TFTP wire codecs pure: they import nothing of the project', () => {
    const codecs = ['server/dhcp/codec.ts', 'server/tftp/packet.ts'];
    expect(describeEdges(edges.filter((e) => codecs.includes(e.from)))).to.deep.equal([]);
  });
});
