import { Agent, request, type Dispatcher } from 'undici';
import { maskSecrets } from '../ssh/mask.js';
import type { RedfishSettings } from './config.js';

/**
 * Restarts a machine into PXE through its BMC (DMTF Redfish): a one-time
 * boot override to Pxe on the ComputerSystem, then
 * ComputerSystem.Reset. The password goes only into the Authorization
 * header and is masked in every error.
 */
export class RedfishClient {
  private readonly dispatcher: Dispatcher;

  constructor(
    private readonly settings: RedfishSettings,
    private readonly password: string,
    dispatcher?: Dispatcher,
  ) {
    this.dispatcher =
      dispatcher ?? new Agent({ connect: { rejectUnauthorized: !settings.insecureTls, timeout: settings.timeoutMs } });
  }

  async pxeOnceAndReset(bmc: string): Promise<void> {
    await this.call('PATCH', this.system(bmc), {
      Boot: { BootSourceOverrideEnabled: 'Once', BootSourceOverrideTarget: 'Pxe' },
    });
    await this.reset(bmc, this.settings.resetType);
  }

  /** ComputerSystem.Reset with a ResetType such as On, ForceOff, ForceRestart. */
  async reset(bmc: string, resetType: string): Promise<void> {
    await this.call('POST', `${this.system(bmc)}/Actions/ComputerSystem.Reset`, { ResetType: resetType });
  }

  private system(bmc: string): string {
    return `${this.settings.scheme}://${bmc}${this.settings.systemPath}`;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async call(method: 'PATCH' | 'POST', url: string, body: unknown): Promise<void> {
    const auth = Buffer.from(`${this.settings.username}:${this.password}`).toString('base64');
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        dispatcher: this.dispatcher,
        headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        headersTimeout: this.settings.timeoutMs,
        bodyTimeout: this.settings.timeoutMs,
      });
    } catch (err) {
      throw new Error(this.mask(`redfish ${method} ${url}: ${(err as Error).message}`), { cause: err });
    }
    const text = await response.body.text();
    if (response.statusCode >= 300)
      throw new Error(this.mask(`redfish ${method} ${url}: HTTP ${response.statusCode}${redfishMessage(text)}`));
  }

  private mask(text: string): string {
    return maskSecrets(text, [this.password]);
  }
}

/** The first human-readable message of a Redfish error body, if any. */
function redfishMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as {
      error?: { message?: string; '@Message.ExtendedInfo'?: { Message?: string }[] };
    };
    const message = parsed.error?.['@Message.ExtendedInfo']?.[0]?.Message ?? parsed.error?.message;
    return message ? `: ${message.slice(0, 300)}` : '';
  } catch {
    return '';
  }
}
