import type { ClusterSettings } from '../reprovision/config';
import type { ClusterDriver, DriverDeps } from './driver';
import { k3sDriver } from './k3s';
import { proxmoxDriver } from './proxmox';
import { scriptDriver } from './script';

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
