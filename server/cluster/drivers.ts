import type { ClusterSettings } from './config.js';
import type { ClusterDriver, DriverDeps } from './driver.js';
import { k3sDriver } from './k3s.js';
import { proxmoxDriver } from './proxmox.js';
import { scriptDriver } from './script.js';

/** The driver a cluster's config names. */
export function createDriver(deps: DriverDeps, settings: ClusterSettings): ClusterDriver {
  switch (settings.driver) {
    case 'proxmox':
      return proxmoxDriver(deps, settings);
    case 'k3s':
      return k3sDriver(deps, settings);
    case 'script':
      return scriptDriver(settings);
  }
}
