/**
 * The import graph between server/'s folders, read from the sources: every
 * relative import (type-only ones too, since they couple the folders as much),
 * `export ... from` and dynamic import(). Used by test/architecture (no cycles,
 * the layer rules) and, run directly, prints the layers for the README.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVER_DIR = path.join(ROOT, 'server');

/** One import of one file by another, as repository-relative paths. */
export interface ImportEdge {
  from: string;
  to: string;
}

const IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.(ts|mts)$/.test(entry.name) ? [full] : [];
  });
}

/** Every relative import in server/, with .js specifiers mapped back to their .ts files. */
export function importEdges(serverDir = SERVER_DIR): ImportEdge[] {
  return sourceFiles(serverDir).flatMap((file) =>
    [...fs.readFileSync(file, 'utf8').matchAll(IMPORT)].map((match) => ({
      from: path.relative(ROOT, file),
      to: path.relative(ROOT, path.resolve(path.dirname(file), match[1]!).replace(/\.js$/, '.ts')),
    })),
  );
}

/** The folder a file belongs to: server/boot/x.ts is `boot`; a file outside server/ (db/migrations) is its own top folder. */
export function folderOf(file: string): string {
  const parts = file.split(path.sep);
  if (parts[0] !== 'server') return parts[0]!;
  return parts.length > 2 ? parts[1]! : `(root) ${parts[1]}`;
}

/** folder → the folders it imports, with the file-level edges that make each dependency. */
export function folderGraph(edges: ImportEdge[]): Map<string, Map<string, ImportEdge[]>> {
  const graph = new Map<string, Map<string, ImportEdge[]>>();
  for (const edge of edges) {
    const from = folderOf(edge.from);
    const to = folderOf(edge.to);
    for (const folder of [from, to]) if (!graph.has(folder)) graph.set(folder, new Map());
    if (from === to) continue;
    const targets = graph.get(from)!;
    targets.set(to, [...(targets.get(to) ?? []), edge]);
  }
  return graph;
}

/** The strongly connected components with more than one folder (Tarjan): each is a dependency cycle. */
export function folderCycles(graph: Map<string, Map<string, unknown>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (folder: string): void => {
    index.set(folder, counter);
    low.set(folder, counter++);
    stack.push(folder);
    onStack.add(folder);
    for (const next of graph.get(folder)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(folder, Math.min(low.get(folder)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(folder, Math.min(low.get(folder)!, index.get(next)!));
    }
    if (low.get(folder) !== index.get(folder)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== folder);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const folder of graph.keys()) if (!index.has(folder)) visit(folder);
  return cycles;
}

/** One shortest cycle through `start` inside a component (breadth-first), as the folders in order. */
export function shortestCycle(graph: Map<string, Map<string, unknown>>, start: string): string[] | null {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const folder = queue.shift()!;
    for (const next of graph.get(folder)?.keys() ?? []) {
      if (next === start) {
        const path = [folder];
        while (path[0] !== start) path.unshift(cameFrom.get(path[0]!)!);
        return path;
      }
      if (cameFrom.has(next) || next === start) continue;
      cameFrom.set(next, folder);
      queue.push(next);
    }
  }
  return null;
}

/** Layer of each folder in an acyclic graph: 0 imports no folder, otherwise one more than the highest it imports. */
export function folderLayers(graph: Map<string, Map<string, unknown>>): Map<string, number> {
  const layers = new Map<string, number>();
  const layerOf = (folder: string): number => {
    const known = layers.get(folder);
    if (known !== undefined) return known;
    const targets = [...(graph.get(folder)?.keys() ?? [])];
    const layer = targets.length ? Math.max(...targets.map(layerOf)) + 1 : 0;
    layers.set(folder, layer);
    return layer;
  };
  for (const folder of graph.keys()) layerOf(folder);
  return layers;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const graph = folderGraph(importEdges());
  const cycles = folderCycles(graph);
  if (cycles.length) {
    console.log(`cycles: ${cycles.map((c) => c.join(' ⇄ ')).join('; ')}`);
    process.exit(1);
  }
  const byLayer = new Map<number, string[]>();
  for (const [folder, layer] of folderLayers(graph)) byLayer.set(layer, [...(byLayer.get(layer) ?? []), folder]);
  for (const layer of [...byLayer.keys()].sort((a, b) => b - a)) {
    const folders = byLayer.get(layer)!.sort();
    console.log(
      `layer ${layer}: ${folders.map((f) => `${f} → ${[...graph.get(f)!.keys()].sort().join(', ') || '∅'}`).join('\n         ')}`,
    );
  }
}
