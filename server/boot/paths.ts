import { fileURLToPath } from 'node:url';

/** The boot-templates/ shipped with homeport (examples), wherever homeport is started from. */
export const SHIPPED_TEMPLATES_DIR = fileURLToPath(new URL('../../boot-templates', import.meta.url));

/** scripts/: the installer clients (homeport-register, homeport-phase) served at /clients/. */
export const SHIPPED_CLIENTS_DIR = fileURLToPath(new URL('../../scripts', import.meta.url));

/** The installer clients served at /clients/NAME; nothing else under scripts/ is served. */
export const CLIENT_SCRIPTS = ['homeport-register', 'homeport-phase'] as const;
