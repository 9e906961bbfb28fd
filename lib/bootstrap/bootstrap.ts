// The public face of the Postfix bootstrap generator: its options and Bootstrap.render. Pure: no
// AWS calls, no CDK.
import { BootstrapFormat, type BootstrapOptions } from './options';
import { renderBootstrap } from './render';
import { resolveBootstrapOptions } from './resolve';

/**
 * The Postfix bootstrap for hosts you launch yourself: a self-contained script (or #cloud-config
 * document) that installs Postfix and the ses-relay instance program and relays through SES with
 * the credentials of a Secrets Manager secret, read at boot with the instance role.
 *
 * @example
 * const script = Bootstrap.render({ smtpRegion: 'eu-west-1', secretId: 'ses-smtp' });
 */
export class Bootstrap {
  /**
   * Renders the bootstrap. Throws an error naming the option, the value and what is allowed when
   * an option is invalid.
   */
  static render(options: BootstrapOptions, format: BootstrapFormat = BootstrapFormat.SHELL): string {
    return renderBootstrap(resolveBootstrapOptions(options), format);
  }

  private constructor() {}
}
