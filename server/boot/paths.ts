import path from 'node:path';
import { HOMEPORT_ROOT } from '../util/root.js';

/** The boot-templates/ shipped with homeport (examples), wherever homeport is started from. */
export const SHIPPED_TEMPLATES_DIR = path.join(HOMEPORT_ROOT, 'boot-templates');

/** scripts/: the installer clients (homeport-register, homeport-phase) served at /clients/. */
export const SHIPPED_CLIENTS_DIR = path.join(HOMEPORT_ROOT, 'scripts');

/** The installer clients served at /clients/NAME; nothing else under scripts/ is served. */
export const CLIENT_SCRIPTS = ['homeport-register', 'homeport-phase'] as const;
