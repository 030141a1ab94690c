import type { Node } from '../store/nodes-repo.js';
import type { Profile } from './profiles.js';

/**
 * The data every boot template sees. Pure. Values are rendered escaped for
 * the template's language (templates.ts); the phone-home token is the node's
 * own HMAC token, so a rendered config can report for that node only.
 */
export type ContextNode = Pick<
  Node,
  'mac' | 'hostname' | 'ip' | 'uuid' | 'arch' | 'type' | 'cluster' | 'profile' | 'labels'
> & {
  /** null for an unknown machine booted under `unknown: default`, which has no row yet. */
  id: number | null;
  status: string | null;
};

export interface ServerUrls {
  /** http://host:port, no trailing slash. */
  baseUrl: string;
}

export interface TemplateContext {
  node: ContextNode & {
    /** The stored hostname, or `node-<mac without colons>` when none is set yet. */
    hostname: string;
    hostnameSet: boolean;
    macHyphen: string;
    macBare: string;
  };
  profile: { name: string; description: string; vars: Profile['vars'] };
  server: {
    baseUrl: string;
    assetsUrl: string;
    entryUrl: string;
    scriptUrl: string;
    configUrl: string;
    clientsUrl: string;
    phaseUrl: string;
    registerUrl: string;
  };
  /** name -> URL of each install config of the profile. */
  configs: Record<string, string>;
  token: string;
}

export function buildContext(input: {
  node: ContextNode;
  profileName: string;
  profile: Profile;
  baseUrl: string;
  token: string;
}): TemplateContext {
  const { node, baseUrl } = input;
  const macBare = node.mac.replace(/:/g, '');
  const macHyphen = node.mac.replace(/:/g, '-');
  const configUrl = `${baseUrl}/config/${macHyphen}`;
  return {
    node: {
      ...node,
      hostname: node.hostname ?? `node-${macBare}`,
      hostnameSet: node.hostname !== null,
      macHyphen,
      macBare,
    },
    profile: { name: input.profileName, description: input.profile.description, vars: input.profile.vars },
    server: {
      baseUrl,
      assetsUrl: `${baseUrl}/assets`,
      entryUrl: `${baseUrl}/boot.ipxe`,
      scriptUrl: `${baseUrl}/boot/${macHyphen}.ipxe`,
      configUrl,
      clientsUrl: `${baseUrl}/clients`,
      phaseUrl: `${baseUrl}/api/status/phase`,
      registerUrl: `${baseUrl}/api/nodes/register`,
    },
    configs: Object.fromEntries(Object.keys(input.profile.configs).map((name) => [name, `${configUrl}/${name}`])),
    token: input.token,
  };
}

/** An absolute URL as is; anything else is a path under /assets/, each segment URL-encoded. */
export function assetUrl(baseUrl: string, ref: string): string {
  if (/^https?:\/\//i.test(ref)) return ref;
  const segments = ref.replace(/^\/+/, '').split('/').filter(Boolean);
  return `${baseUrl}/assets/${segments.map(encodeURIComponent).join('/')}`;
}

/** The file name iPXE registers an image under (and the kernel's `initrd=` names). */
export function imageName(ref: string): string {
  const path = ref.split(/[?#]/)[0]!;
  return path.split('/').filter(Boolean).pop() ?? 'image';
}
