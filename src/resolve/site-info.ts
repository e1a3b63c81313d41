import { HashOption, type SiteInfo, ServiceType, Transport } from '../model/site.js';
import { PROTOCOL_MAJOR, PROTOCOL_MINOR } from '../protocol/constants.js';

export interface OwnSiteOptions {
  serial: number;
  serverId: number;
  /** The address clients are told to use (HS_SITE carries it); an IP literal. */
  publicAddress: string;
  port: number;
  /** HS_PUBKEY-format bytes of the server key. */
  publicKey: Buffer;
  description: string;
  /**
   * Whether this site takes administration: false on a mirror and on a primary that fenced itself (it learnt
   * of a newer primary, docs/replication.md); absent: true.
   */
  primary?: boolean;
  /** Attributes after the description (a promoted primary says which transaction it was promoted from). */
  attributes?: ReadonlyArray<[string, string]>;
}

/**
 * The node's own site record, as GET_SITE_INFO returns it and as a parent's HS_SITE value for this node
 * should hold it. Real clients take the protocol version and the ports they speak from it: TCP is
 * admin+query, UDP is query only, as in a default reference site.
 */
export function ownSite(o: OwnSiteOptions): SiteInfo {
  return {
    dataFormatVersion: 1,
    protocolMajor: PROTOCOL_MAJOR,
    protocolMinor: PROTOCOL_MINOR,
    serial: o.serial,
    primary: o.primary ?? true,
    multiPrimary: false,
    hashOption: HashOption.BY_HANDLE,
    hashFilter: Buffer.alloc(0),
    attributes: [['desc', o.description], ...(o.attributes ?? [])],
    servers: [
      {
        serverId: o.serverId,
        address: o.publicAddress,
        publicKey: o.publicKey,
        interfaces: [
          { type: ServiceType.ADMIN_AND_QUERY, protocol: Transport.TCP, port: o.port },
          { type: ServiceType.QUERY, protocol: Transport.UDP, port: o.port },
        ],
      },
    ],
  };
}
