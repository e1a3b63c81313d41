import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CONFIG_FILE, defaultConfig, loadConfig } from '../node/config.js';
import { parseScannedIdentifier } from '../model/handle.js';
import { identifierToName, nameToIdentifier, normaliseZone } from '../dns/mapping.js';
import { collect, dirOption } from './options.js';

export interface DnsNameOptions {
  /** Zones given on the command line; else the node's (--dir), else the default zone. */
  zones: string[];
  dir: string;
}

/** The zones to map under: --zone, else those of the node in --dir, else the default. */
function zonesFor(o: DnsNameOptions): string[] {
  if (o.zones.length) return o.zones.map(normaliseZone);
  if (existsSync(path.join(o.dir, CONFIG_FILE))) return loadConfig(o.dir).dns.zones;
  return defaultConfig().dns.zones;
}

/**
 * `idres dns-name X`: an identifier (it has a slash, or is an hdl: URI or a URL) prints its DNS name under
 * the first zone; a DNS name prints its identifier. Names never contain a slash, so the two cannot be
 * confused. A DnsMappingError (printed by main) says why there is no mapping.
 */
export function dnsNameCommand(input: string, o: DnsNameOptions): void {
  const zones = zonesFor(o);
  const text = input.trim();
  if (text.includes('/') || /^(?:urn:)?(?:hdl|handle|doi):/i.test(text)) {
    console.log(identifierToName(parseScannedIdentifier(text), zones[0]!) + '.');
  } else {
    console.log(nameToIdentifier(text, zones));
  }
}

/** `idres dns-name`: the DNS name of an identifier, or the identifier of a name. */
export function addDnsNameCommand(program: Command): void {
  program
    .command('dns-name')
    .description("the DNS name of an identifier, or the identifier of a DNS name (the gateway's mapping, docs/dns.md)")
    .argument('<identifier-or-name>', 'e.g. 88.118.8/ABC123, or abc123._.8.118.88.id.internal')
    .option('-z, --zone <zone>', 'the zone (repeatable; default: the zones of the node in --dir, else id.internal)', collect, [])
    .addOption(dirOption())
    .action((x, o) => dnsNameCommand(x, { zones: o.zone, dir: o.dir }));
}
