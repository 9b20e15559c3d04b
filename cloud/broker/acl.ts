import {
  DOWNLINK_KINDS,
  isValidSiteId,
  parseSiteTopic,
  type TopicKind,
  UPLINK_KINDS,
} from '../../protocols/mqtt/topics.ts';

/**
 * The gateway topic ACL, in one place: a gateway logged in as site S may publish only S's uplink topics
 * (telemetry, status, capabilities, acks) and subscribe only to S's command topic. The same rules are
 * rendered for Mosquitto by mosquitto-acl.ts.
 */
/** The parsed topic when `site` may publish to it, else undefined. */
export function uplinkOf(site: string, topic: string): { siteId: string; kind: TopicKind } | undefined {
  const t = parseSiteTopic(topic);
  return t && t.siteId === site && (UPLINK_KINDS as readonly string[]).includes(t.kind) ? t : undefined;
}

export function maySubscribe(site: string, filter: string): boolean {
  // Wildcards never match: parseSiteTopic refuses '+' and '#' in the site position.
  const t = parseSiteTopic(filter);
  return !!t && t.siteId === site && (DOWNLINK_KINDS as readonly string[]).includes(t.kind);
}

export function isGatewayUsername(username: string | undefined): username is string {
  return typeof username === 'string' && isValidSiteId(username);
}
