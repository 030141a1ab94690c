import fs from 'node:fs';
import path from 'node:path';

/**
 * Recording stand-ins for the node-side commands homeport runs over SSH:
 * `reboot`, Proxmox's `pvecm`, `k3s` and the k3s installer (get.k3s.io).
 * Proxmox VE and k3s cannot be installed here (not in Debian), and a real
 * `reboot` must never run, so these small sh scripts sit first on the test
 * sshd's session PATH. Each appends "<node address> <command> <args>" to a
 * log (the node is the loopback address the SSH session came in on) and
 * keeps just enough state per node to answer status queries the way the
 * real tools do. A file fail/<node>-<command>-<subcommand> makes the next
 * such call fail once with its content as the error.
 */
export interface NodeStubs {
  logFile: string;
  stateDir: string;
  /** Where the k3s installer stub writes the server's join token (clusters.X.k3s.tokenFile). */
  k3sTokenFile: string;
  /** The token the k3s server stub generates. */
  k3sToken: string;
  calls(): string[];
  clearCalls(): void;
  failOnce(node: string, command: string, subcommand: string, message: string): void;
}

const PREAMBLE = (stateDir: string, logFile: string, name: string) => `#!/bin/sh
# Test stand-in for ${name} (the real one cannot be installed here); see test/helpers/node-stubs.ts.
state=${stateDir}
node=$(echo "$SSH_CONNECTION" | cut -d' ' -f3)
if [ $# -gt 0 ]; then echo "$node ${name} $*"; else echo "$node ${name}"; fi >> ${logFile}
fail="$state/fail/$node-${name}-$1"
if [ -f "$fail" ]; then cat "$fail" >&2; rm -f "$fail"; exit 1; fi
`;

const REBOOT = `echo "rebooting (stub)"
`;

const PVECM = `mkdir -p "$state/pvecm"
s="$state/pvecm"
case "$1" in
  create)
    [ -f "$s/$node" ] && { echo "cluster config '/etc/pve/corosync.conf' already exists" >&2; exit 255; }
    echo "$2" > "$s/$node"; echo "$node" > "$s/members.$2" ;;
  add)
    [ -f "$s/$node" ] && { echo "this host already contains virtual guests or is in a cluster" >&2; exit 255; }
    [ -f "$s/$2" ] || { echo "unable to join: $2 is not in a cluster" >&2; exit 255; }
    name=$(cat "$s/$2"); echo "$name" > "$s/$node"; echo "$node" >> "$s/members.$name" ;;
  status)
    [ -f "$s/$node" ] || { echo "Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?" >&2; exit 2; }
    name=$(cat "$s/$node"); count=$(wc -l < "$s/members.$name")
    printf 'Cluster information\\n-------------------\\nName:             %s\\nConfig Version:   %s\\nTransport:        knet\\n\\nQuorum information\\n------------------\\nNodes:            %s\\nQuorate:          Yes\\n' "$name" "$count" "$count" ;;
  *) echo "pvecm stub: unsupported $1" >&2; exit 1 ;;
esac
`;

const K3S_INSTALL = (tokenFile: string, token: string) => `mkdir -p "$state/k3s"
s="$state/k3s"
echo "$node k3s-install token=\${K3S_TOKEN:--}" >> "$state/k3s-env.log"
while [ $# -gt 0 ]; do [ "$1" = --node-name ] && name=$2; shift; done
if [ -z "\${K3S_TOKEN:-}" ]; then echo "$node" > "$s/server"; printf '%s\\n' '${token}' > ${tokenFile}; fi
echo "$name" >> "$s/nodes"
`;

const K3S = `s="$state/k3s"
if [ "$1 $2 $3" = "kubectl get nodes" ]; then
  [ -f "$s/server" ] && [ "$(cat "$s/server")" = "$node" ] || { echo "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?" >&2; exit 1; }
  while read -r n; do echo "$n   Ready   control-plane,etcd,master   1m   v1.31.4+k3s1"; done < "$s/nodes"
  exit 0
fi
echo "k3s stub: unsupported $*" >&2; exit 1
`;

export function installNodeStubs(binDir: string): NodeStubs {
  const stateDir = path.join(path.dirname(binDir), 'node-state');
  const logFile = path.join(stateDir, 'calls.log');
  const k3sTokenFile = path.join(stateDir, 'k3s-node-token');
  const k3sToken = 'K10f00dfeedcafe::server:stub-join-token-0123456789';
  fs.mkdirSync(path.join(stateDir, 'fail'), { recursive: true });
  const write = (name: string, body: string) =>
    fs.writeFileSync(path.join(binDir, name), PREAMBLE(stateDir, logFile, name) + body, { mode: 0o755 });
  write('reboot', REBOOT);
  write('pvecm', PVECM);
  write('k3s-install', K3S_INSTALL(k3sTokenFile, k3sToken));
  write('k3s', K3S);
  return {
    logFile,
    stateDir,
    k3sTokenFile,
    k3sToken,
    calls: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : []),
    clearCalls: () => fs.rmSync(logFile, { force: true }),
    failOnce: (node, command, subcommand, message) =>
      fs.writeFileSync(path.join(stateDir, 'fail', `${node}-${command}-${subcommand}`), message + '\n'),
  };
}
