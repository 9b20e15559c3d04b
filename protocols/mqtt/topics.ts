/**
 * MQTT topic layout, version 1. Every topic lives under `gridlayer/v1/sites/<siteId>/`, so a per-site
 * ACL is a single prefix rule: a gateway may publish its site's telemetry/status/capabilities/acks and
 * subscribe to its site's commands and schema announcement, nothing else.
 */
export const TOPIC_ROOT = 'gridlayer/v1/sites';

/** Site ids appear in topics: no MQTT wildcards, separators or whitespace. */
export const SITE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const UPLINK_KINDS = ['telemetry', 'status', 'capabilities', 'acks'] as const;
/** `schema`: retained, the payload schema versions the cloud speaks (see payloads.ts, schemaAnnouncementSchema). */
export const DOWNLINK_KINDS = ['commands', 'schema'] as const;
export type TopicKind = (typeof UPLINK_KINDS)[number] | (typeof DOWNLINK_KINDS)[number];

export function isValidSiteId(siteId: string): boolean {
  return SITE_ID_PATTERN.test(siteId);
}

export function siteTopic(siteId: string, kind: TopicKind): string {
  if (!isValidSiteId(siteId)) throw new Error(`invalid site id ${JSON.stringify(siteId)}`);
  return `${TOPIC_ROOT}/${siteId}/${kind}`;
}

/** Subscription filter for one kind across all sites (cloud side). */
export function allSitesFilter(kind: TopicKind): string {
  return `${TOPIC_ROOT}/+/${kind}`;
}

export function parseSiteTopic(topic: string): { siteId: string; kind: TopicKind } | undefined {
  const prefix = `${TOPIC_ROOT}/`;
  if (!topic.startsWith(prefix)) return undefined;
  const parts = topic.slice(prefix.length).split('/');
  if (parts.length !== 2) return undefined;
  const [siteId, kind] = parts;
  if (!isValidSiteId(siteId)) return undefined;
  if (
    !(UPLINK_KINDS as readonly string[]).includes(kind) &&
    !(DOWNLINK_KINDS as readonly string[]).includes(kind)
  )
    return undefined;
  return { siteId, kind: kind as TopicKind };
}
