/**
 * One sentence for every config key whose schema carries no `.describe()`, by
 * the dotted path docs/configuration.md shows (`<name>`: a map key, `[]`: a list
 * element). Kept beside the schema rather than in it so the schema stays
 * readable; test/config/reference.test.ts fails when a key has no description
 * or an entry names no key.
 */
export const KEY_DESCRIPTIONS: Readonly<Record<string, string>> = {
  log: 'Logging: JSON lines on stderr.',
  http: 'The HTTP server: phone-home API, boot scripts and assets, admin API, status page, metrics.',
  database: 'Where nodes, history, leases and jobs are stored: SQLite under dataDir by default, or PostgreSQL.',
  auth: 'The admin token and the secret the per-node phone-home tokens derive from.',
  phases: 'The install-phase catalogue installers report against.',
  boot: 'What a machine boots: profiles, the groups that pick them, and what unknown and installed machines get.',
  dhcp: 'DHCP: off, proxyDHCP beside an existing DHCP server, or full DHCP with a pool.',
  tftp: 'TFTP, read-only, for firmware that is not yet iPXE.',
  timeline:
    'Boot events (DHCP, TFTP, scripts, assets, configs, refused phone-home calls) kept per machine for `homeport timeline`, and the limits its verdict uses.',
  'timeline.enabled': 'Record boot events; false records none (the timeline then shows install phases only).',
  'timeline.maxEventsPerNode': 'Boot events kept per MAC; older ones are deleted as new ones arrive.',
  'timeline.maxAgeDays': 'Boot events older than this many days are deleted.',
  'timeline.seenLimit':
    'Unknown MACs kept in the seen list (GET /api/seen) with their events; the least recently seen is evicted first.',
  'timeline.noPhoneHomeMinutes':
    'A node served its install script with no phone-home within this many minutes gets the verdict `no_phone_home`.',
  'timeline.phaseStallMinutes':
    'A node whose last install phase is older than this many minutes gets the verdict `phase_stalled`.',
  ssh: 'SSH from homeport to nodes: reboot, readiness checks, cluster drivers.',
  reprovision: 'How a reprovision restarts machines.',
  watcher: 'The scheduled watcher: reprovision timeouts, readiness, cluster formation and jobs.',
  monitoring: 'The status page (/monitoring) and its event stream (/api/events).',
  dataDir:
    'State directory: the SQLite database, tokens, the SSH key and assets; relative file paths elsewhere in the config are under it.',
  'log.level': 'Least severe log level written (JSON lines on stderr); `silent` writes nothing.',
  'http.host': 'Address the HTTP server listens on; `0.0.0.0` is every IPv4 address.',
  'http.port': 'HTTP port for the API, boot scripts, assets, the status page and metrics.',
  'http.bodyLimitKb': 'Largest request body accepted, in KiB; a larger one is answered 413 before it is read.',
  'database.synchronous':
    'SQLite `synchronous`: FULL fsyncs every commit before it is acknowledged (survives power loss), NORMAL survives a process crash only.',
  'database.busyTimeoutMs':
    'How long a SQLite write waits for another writer (a second process on the same file) before failing.',
  'boot.profiles.<name>.description': 'Free text shown by `homeport doctor` and in listings.',
  'boot.profiles.<name>.kernel':
    'Kernel to boot: an absolute http(s) URL, or a path under boot.assetsDir (served at /assets/).',
  'boot.profiles.<name>.initrds':
    'Initrds in order, as kernel paths are; each is also passed to the kernel as `initrd=NAME` (EFI needs it).',
  'boot.profiles.<name>.args':
    'Kernel arguments: a template rendered for iPXE; each value must be a single iPXE token.',
  'boot.profiles.<name>.ipxe': 'A custom iPXE script template used instead of the kernel/initrds/args builder.',
  'boot.profiles.<name>.configs':
    'Install configs (preseed, answer files): name to template file, served at /config/:mac/:name.',
  'boot.profiles.<name>.netbootOffAfter':
    "Turn the node's netboot off once this config is served, for installers that reboot before they can phone home.",
  'boot.profiles.<name>.vars': 'Free values for the templates (`profile.vars.x`): timezone, disks, keys.',
  'boot.groups.[].profile': 'Profile a machine matching this group boots.',
  'boot.groups.[].match': 'Selectors; every one given must match, and an empty match matches every machine.',
  'boot.groups.[].match.mac': 'One MAC or a list of them (any accepted spelling).',
  'boot.groups.[].match.uuid': 'One SMBIOS UUID or a list, as iPXE reports it.',
  'boot.groups.[].match.arch': 'One iPXE buildarch or a list: x86_64, i386, arm64.',
  'boot.groups.[].match.cluster': "One cluster name or a list: the node's `cluster` field.",
  'boot.groups.[].match.labels': 'Labels the node must carry, each with this value.',
  'boot.localBoot': 'How an installed node (netboot off) boots its disk, per firmware.',
  'boot.localBoot.pcbios':
    "BIOS machines: `exit` hands back to the firmware's next boot device, `sanboot` boots boot.localBoot.sanbootDrive from iPXE.",
  'boot.localBoot.efi':
    "UEFI machines: `exit` hands back to the firmware's boot order, `sanboot` boots the disk from iPXE.",
  'boot.localBoot.sanbootDrive': 'BIOS drive number sanboot boots, 0x80 being the first disk.',
  'dhcp.mode':
    '`off`; `proxy`: answer only PXE clients beside an existing DHCP server (proxyDHCP); `full`: hand out addresses from dhcp.pool.',
  'dhcp.port': 'UDP port of the DHCP server (67 for real clients; another one for tests).',
  'dhcp.proxyPort': 'UDP port of the PXE boot server that proxyDHCP clients ask (4011).',
  'dhcp.pool': 'Full mode: the addresses to lease and the options sent with them.',
  'dhcp.pool.start': 'First address of the pool.',
  'dhcp.pool.end': 'Last address of the pool.',
  'dhcp.pool.subnetMask': 'Subnet mask sent to clients (option 1).',
  'dhcp.pool.router': 'Default gateway sent to clients (option 3); unset: none.',
  'dhcp.pool.dns': 'DNS servers sent to clients (option 6).',
  'dhcp.pool.domain': 'DNS domain sent to clients (option 15).',
  'dhcp.pool.leaseSeconds': 'Lease time granted to clients, in seconds.',
  'tftp.enabled': 'Serve TFTP (for firmware that is not yet iPXE: BIOS PXE ROMs, UEFI PXE).',
  'tftp.host': 'Address the TFTP server listens on.',
  'tftp.port': 'UDP port of the TFTP server.',
  'tftp.maxSessions': 'Concurrent transfers; a request beyond them is answered "server busy".',
  'tftp.maxBlksize': 'Largest block size granted when a client asks for one (RFC 2348).',
  'tftp.maxWindowsize': 'Largest window granted when a client asks for one (RFC 7440).',
  'tftp.timeoutMs': 'Retransmission timeout for an unacknowledged block.',
  'tftp.retries': 'Retransmissions of a block before the transfer is given up.',
  'ssh.user': 'User homeport logs in as on nodes (reboot, readiness checks, cluster drivers).',
  'ssh.port': 'SSH port on the nodes.',
  'ssh.keyFile': 'Private key (OpenSSH format) homeport logs in with; relative paths are under dataDir.',
  'ssh.keyPassphraseFile': 'File holding the passphrase of an encrypted key; relative paths are under dataDir.',
  'ssh.hostKeys':
    '`accept`: any host key (a reinstalled node has a new one every round); `known_hosts`: it must be in ssh.knownHostsFile.',
  'ssh.knownHostsFile': 'Host keys (OpenSSH known_hosts format) used when ssh.hostKeys is known_hosts.',
  'ssh.connectTimeoutMs': 'How long an SSH connection may take to open.',
  'ssh.commandTimeoutMs': 'Default limit for one remote command; cluster steps have their own.',
  'ssh.retries': 'Attempts for steps that are safe to repeat (connect failures, read-only checks).',
  'ssh.retryDelayMs': 'First delay between attempts; it doubles each time.',
  'reprovision.method':
    'How a reprovision restarts a machine: `ssh` runs reprovision.rebootCommand, `redfish` resets it through its BMC with PXE once, `none` leaves it to the admin.',
  'reprovision.rebootCommand': 'Command run over SSH to restart a node.',
  'reprovision.redfish': 'BMC access for reprovision.method redfish.',
  'reprovision.redfish.scheme': "Scheme of the BMC's Redfish API.",
  'reprovision.redfish.bmcLabel': 'The node label holding its BMC address (host or host:port).',
  'reprovision.redfish.systemPath':
    'Redfish system resource to reset, e.g. /redfish/v1/Systems/System.Embedded.1 on Dell.',
  'reprovision.redfish.username': 'BMC user.',
  'reprovision.redfish.passwordFile': 'File holding the BMC password; relative paths are under dataDir.',
  'reprovision.redfish.resetType': 'Redfish ResetType sent after setting the one-time PXE boot.',
  'reprovision.redfish.insecureTls': 'Skip certificate verification (BMCs ship self-signed certificates).',
  'reprovision.redfish.timeoutMs': 'Limit for one Redfish request.',
  'watcher.enabled': 'Run the watcher on its schedule; false only for tests and read-only replicas.',
  'watcher.schedule':
    'When the watcher runs: a node-cron expression with seconds (timeouts, readiness, cluster formation, scheduled jobs).',
  'watcher.reprovisionTimeoutMin':
    "Minutes before a reprovisioning node is marked timeout; the API's timeout_min overrides it per request.",
  'watcher.sshTimeoutMs': "Readiness: a node's SSH must answer within this.",
  'watcher.portTimeoutMs': 'Readiness: a service port (e.g. Proxmox 8006) must accept within this.',
  'watcher.leaseMs': 'Leader lease among instances sharing one database; must outlast a tick interval.',
  'watcher.jobLeaseMs': "Lease on a running job, renewed while it runs; a dead runner's job is reclaimed after it.",
  'watcher.jobAttempts':
    'Runs of a formation job (failures, and runners that died) before the cluster is marked error.',
  'watcher.jobRetryDelayMs': "Delay before a failed job's automatic retry; doubles per attempt, up to 16 times this.",
  'watcher.jobPollMs':
    "How often a waiting job (a rolling reprovision's batch) re-checks; it also runs on every watcher tick.",
  clusters: "Clusters by name (the nodes' `cluster` field) and how the watcher forms them once every node is done.",
  'clusters.<name>.driver':
    'How the cluster is formed: `proxmox` (pvecm over SSH), `k3s` (its installer over SSH) or `script` (clusters.<name>.script).',
  'clusters.<name>.script': 'Driver script: an executable run with CLUSTER and NODES (JSON) in its environment.',
  'clusters.<name>.expectedNodes': 'Do not form before this many nodes are in the cluster.',
  'clusters.<name>.readinessPorts':
    'TCP ports that must accept before a node counts as ready; default per driver (proxmox 8006).',
  'clusters.<name>.readinessSsh':
    'Require SSH to answer before a node counts as ready; off for nodes that run no sshd (their deployed report is the signal).',
  'clusters.<name>.stepTimeoutMs': 'Limit for one mutating step (create, join, script run).',
  'clusters.<name>.verifyTimeoutMs': 'How long verification waits for every member to show up.',
  'clusters.<name>.k3s': 'k3s driver settings.',
  'clusters.<name>.k3s.installCommand': 'Runs the k3s installer; arguments are appended, e.g. `server --cluster-init`.',
  'clusters.<name>.k3s.tokenFile': 'Where the first server keeps the join token the others read.',
  'clusters.<name>.k3s.joinAs': 'Role of the nodes that join the first one: `server` (HA control plane) or `agent`.',
  webhooks:
    'HTTP endpoints that receive events (phase changes, timeouts, cluster formed or failed) as JSON, signed when a secret is set.',
  'webhooks.[].url': 'The http(s) URL events are POSTed to.',
  'webhooks.[].events': 'Only these events; unset: all of them.',
};
